// A canvas's calls, typed by what openapi-typescript generates from the served document and
// made through openapi-fetch; compiled with `tsc --strict` and run by
// tests/contract/test_typescript_client.py. No type assertions anywhere: every answer is
// read through the types the document gives, errors narrowed by their `error` code.
import createClient from "openapi-fetch";

import type { components, paths } from "./api.js";
import { BASE_URL, NAME_PREFIX, PACKAGE_ID, TOKEN } from "./config.js";

type FlowContent = components["schemas"]["FlowContent"];
type EntryApiConfig = components["schemas"]["EntryApiConfig"];
type LlmRigidConfig = components["schemas"]["LlmRigidConfig"];

const client = createClient<paths>({
  baseUrl: BASE_URL,
  headers: { Authorization: `Bearer ${TOKEN}` },
});

function fail(step: string, detail: unknown): never {
  throw new Error(`${step}: ${JSON.stringify(detail)}`);
}

function etagOf(step: string, response: Response): string {
  const etag = response.headers.get("ETag");
  if (etag === null) {
    return fail(step, "no ETag");
  }
  return etag;
}

const entry: EntryApiConfig = { method: "POST", path: "/hello" };
const reply: LlmRigidConfig = { template: "Hello {{name}}" };

function content(name: string): FlowContent {
  return {
    name,
    scaicore_target: "0.2",
    nodes: [
      {
        id: "node_entry",
        type: "entry_api",
        label: "Entry",
        position: { x: 0, y: 0 },
        config: entry,
        outputs: [{ id: "out_request", label: "request", type: "object" }],
      },
      {
        id: "node_reply",
        type: "llm_rigid",
        label: "Reply",
        position: { x: 160, y: 0 },
        config: reply,
        inputs: [{ id: "in", label: "in", type: "object" }],
      },
    ],
    edges: [
      {
        id: "edge_1",
        type: "sequential",
        source: { node: "node_entry", port: "out_request" },
        target: { node: "node_reply", port: "in" },
      },
    ],
    variables: [{ name: "greeting", default: "Hello" }],
    config: {
      core_identity: {
        name: "Canvas",
        models: [{ role: "primary", ref: "scaigrid", model: "openai/gpt-4o" }],
      },
      plugins: ["scaidrive"],
    },
  };
}

// Create: `description` may be left out.
const created = await client.POST("/api/v1/flows", {
  body: { name: `${NAME_PREFIX} one`, content: content("Canvas one") },
});
if (created.data === undefined) {
  fail("create", created.error);
}
const flow = created.data;
const createdEtag = etagOf("create", created.response);

// Get: the same flow, with the FlowGraph typed.
const read = await client.GET("/api/v1/flows/{flow_id}", {
  params: { path: { flow_id: flow.id } },
});
if (read.data === undefined) {
  fail("get", read.error);
}
const firstNode = read.data.content.nodes?.[0];

// Rename with If-Match: a partial PUT of `name` alone keeps the version, moves the ETag.
const renamed = await client.PUT("/api/v1/flows/{flow_id}", {
  params: { path: { flow_id: flow.id }, header: { "If-Match": createdEtag } },
  body: { name: `${NAME_PREFIX} renamed` },
});
if (renamed.data === undefined) {
  fail("rename", renamed.error);
}
const renamedEtag = etagOf("rename", renamed.response);

// A stale write: 412, read by narrowing on the error code, no cast.
const stale = await client.PUT("/api/v1/flows/{flow_id}", {
  params: { path: { flow_id: flow.id }, header: { "If-Match": createdEtag } },
  body: { description: "never stored" },
});
let conflict: { status: number; error: string; current_etag: string; current_version: string };
const detail = stale.error?.detail;
if (typeof detail === "object" && !Array.isArray(detail) && detail.error === "version_conflict") {
  const currentEtag: string = detail.current_etag;
  conflict = {
    status: stale.response.status,
    error: detail.error,
    current_etag: currentEtag,
    current_version: detail.current_version,
  };
} else {
  fail("stale write", stale.error);
}

// Search, page by page.
for (const suffix of ["two", "three"]) {
  const more = await client.POST("/api/v1/flows", {
    body: { name: `${NAME_PREFIX} ${suffix}`, description: "paging", content: content(suffix) },
  });
  if (more.data === undefined) {
    fail("create " + suffix, more.error);
  }
}
async function searchPage(cursor: string | null): Promise<{ names: string[]; next: string | null }> {
  const page = await client.GET("/api/v1/flows", {
    params: { query: { search: NAME_PREFIX, limit: 2, cursor } },
  });
  if (page.data === undefined) {
    return fail("search", page.error);
  }
  return { names: page.data.items.map((item) => item.name), next: page.data.next_cursor };
}
const pages: string[][] = [];
let next: string | null = null;
do {
  const page = await searchPage(next);
  pages.push(page.names);
  next = page.next;
} while (next !== null);

// Deploy with only `publish_as_model`.
const deployed = await client.POST("/api/v1/flows/{flow_id}/deploy", {
  params: { path: { flow_id: flow.id } },
  body: { publish_as_model: true },
});
if (deployed.data === undefined) {
  fail("deploy", deployed.error);
}
const deployment = deployed.data;

// Delete with the current ETag; the flow is gone (a plain 404).
const deleted = await client.DELETE("/api/v1/flows/{flow_id}", {
  params: { path: { flow_id: flow.id }, header: { "If-Match": renamedEtag } },
});
if (deleted.error !== undefined) {
  fail("delete", deleted.error);
}
const gone = await client.GET("/api/v1/flows/{flow_id}", {
  params: { path: { flow_id: flow.id } },
});
const goneDetail = gone.error?.detail;
const goneText: string = typeof goneDetail === "string" ? goneDetail : fail("gone", gone.error);

// The catalog: publish inline content (twice: the version is bumped), a second package.
const published = await client.POST("/api/v1/catalog/publish", {
  body: { package_id: PACKAGE_ID, name: `${NAME_PREFIX} package`, readme: "# Canvas\n",
          content: content("Packaged") },
});
if (published.data === undefined) {
  fail("publish", published.error);
}
const republished = await client.POST("/api/v1/catalog/publish", {
  body: { package_id: PACKAGE_ID, name: `${NAME_PREFIX} package`, version: "0.1.0",
          content: content("Packaged again") },
});
if (republished.data === undefined) {
  fail("republish", republished.error);
}
const second = await client.POST("/api/v1/catalog/publish", {
  body: { package_id: `${PACKAGE_ID}-two`, name: `${NAME_PREFIX} second`, content: content("Two") },
});
if (second.data === undefined) {
  fail("publish second", second.error);
}
const noSource = await client.POST("/api/v1/catalog/publish", {
  body: { package_id: PACKAGE_ID, name: "Neither flow_id nor content" },
});
const noSourceDetail = noSource.error?.detail;
const invalidPublish: string =
  typeof noSourceDetail === "object" && !Array.isArray(noSourceDetail) &&
  noSourceDetail.error === "invalid_publish"
    ? noSourceDetail.error
    : fail("publish without a source", noSource.error);

// The list is a bare array; its next page is named by the Link header's cursor.
async function packagePage(cursor: string | null): Promise<{ ids: string[]; next: string | null }> {
  const page = await client.GET("/api/v1/catalog", {
    params: { query: { search: PACKAGE_ID, limit: 1, cursor } },
  });
  if (page.data === undefined) {
    return fail("list packages", page.error);
  }
  const link = page.response.headers.get("Link");
  const found = link === null ? null : /[?&]cursor=([^&>]+)/.exec(link);
  return { ids: page.data.map((item) => item.package_id),
           next: found === null ? null : decodeURIComponent(found[1]) };
}
const packagePages: string[][] = [];
let nextPackages: string | null = null;
do {
  const page = await packagePage(nextPackages);
  packagePages.push(page.ids);
  nextPackages = page.next;
} while (nextPackages !== null);

// Detail, then the first version's file as a Blob.
const detailed = await client.GET("/api/v1/catalog/{package_id}", {
  params: { path: { package_id: PACKAGE_ID } },
});
if (detailed.data === undefined) {
  fail("package detail", detailed.error);
}
const downloaded = await client.GET("/api/v1/catalog/{package_id}/versions/{version}/download", {
  params: { path: { package_id: PACKAGE_ID, version: "0.1.0" } },
  parseAs: "blob",
});
if (downloaded.data === undefined) {
  fail("download", downloaded.error);
}
const file: Blob = downloaded.data;
const fileStart = new Uint8Array(await file.slice(0, 2).arrayBuffer());

// Install it as a new flow of the caller's.
const installed = await client.POST("/api/v1/catalog/{package_id}/install", {
  params: { path: { package_id: PACKAGE_ID } },
  body: { save: true, name: `${NAME_PREFIX} installed` },
});
if (installed.data === undefined) {
  fail("install", installed.error);
}
const installedFlow = "owner_id" in installed.data ? installed.data : fail("install", "no flow");

// Delete the package, then import the downloaded file: the package is back (201); the same
// file again stores nothing (200); bytes that are no archive are refused, narrowed by code.
const packageDeleted = await client.DELETE("/api/v1/catalog/{package_id}", {
  params: { path: { package_id: PACKAGE_ID } },
});
if (packageDeleted.error !== undefined) {
  fail("delete package", packageDeleted.error);
}
async function importFile(body: Blob) {
  return client.POST("/api/v1/catalog/import", {
    body,
    bodySerializer: (blob) => blob,
    headers: { "Content-Type": "application/zip" },
  });
}
const imported = await importFile(file);
if (imported.data === undefined) {
  fail("import", imported.error);
}
const importedAgain = await importFile(file);
if (importedAgain.data === undefined) {
  fail("import again", importedAgain.error);
}
const notZip = await importFile(new Blob(["not a zip archive"]));
const notZipDetail = notZip.error?.detail;
const importRefusal: string =
  typeof notZipDetail === "object" && !Array.isArray(notZipDetail) &&
  notZipDetail.error === "invalid_archive"
    ? notZipDetail.error
    : fail("import of no archive", notZip.error);

console.log(
  JSON.stringify({
    created: { id: flow.id, name: flow.name, version: flow.version, etag: createdEtag,
               description: flow.description },
    read: { name: read.data.name, first_node: firstNode?.id ?? null,
            first_config: firstNode?.config ?? null },
    renamed: { name: renamed.data.name, version: renamed.data.version, etag: renamedEtag },
    conflict,
    pages,
    deployment: {
      id: deployment.id, status: deployment.status, version: deployment.version,
      core_id: deployment.core_id, published_slug: deployment.published_slug,
    },
    deleted: { status: deleted.response.status, gone_status: gone.response.status,
               gone: goneText },
    catalog: {
      published: { status: published.response.status, version: published.data.version,
                   tenant_id: published.data.tenant_id, author_id: published.data.author_id },
      republished: republished.data.version,
      second: second.data.package_id,
      invalid_publish: invalidPublish,
      pages: packagePages,
      readme: detailed.data.readme,
      versions: detailed.data.versions.map((v) => ({ version: v.version, sha256: v.sha256,
                                                     size_bytes: v.size_bytes })),
      download: { size: file.size, start: Array.from(fileStart),
                  disposition: downloaded.response.headers.get("Content-Disposition") },
      installed: { id: installedFlow.id, name: installedFlow.name,
                   owner_id: installedFlow.owner_id, status: installed.response.status },
      deleted: packageDeleted.response.status,
      imported: { status: imported.response.status, version: imported.data.version },
      imported_again: { status: importedAgain.response.status,
                        version: importedAgain.data.version },
      import_refusal: { status: notZip.response.status, error: importRefusal },
    },
  }),
);
