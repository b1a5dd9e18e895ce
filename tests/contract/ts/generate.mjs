// openapi-typescript with its defaults, plus the recipe its documentation gives for files
// (https://openapi-ts.dev/node, "Blob"): a `format: binary` schema — the catalog's `.scaipkg`
// upload and download — is a `Blob` rather than a `string`, which a fetch body or
// `parseAs: "blob"` gives. Nothing else of the document has that format.
//
//   node generate.mjs openapi.json api.d.ts
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const [input, output] = process.argv.slice(2);
const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const ast = await openapiTS(pathToFileURL(path.resolve(input)), {
  transform(schemaObject) {
    if (schemaObject.format === "binary") {
      return BLOB;
    }
    return undefined;
  },
});
fs.writeFileSync(output, astToString(ast));
