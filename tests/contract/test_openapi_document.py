"""The served OpenAPI document is a valid OpenAPI 3.1 document (openapi-spec-validator), and
is what the one operation schemathesis does not exercise (the one serving the document it
tests) declares: a public 200 with a JSON body (and the 422 of any route given a query
parameter it does not declare)."""

from __future__ import annotations

from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from tests.contract.served import ServedAppliance


def test_the_served_document_is_valid_openapi_3_1(served: ServedAppliance) -> None:
    answer = served.call("GET", "/api/v1/openapi.json")  # no token: the document is public
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    document = answer.body
    assert document["openapi"] == "3.1.0"

    validate(document, cls=OpenAPIV31SpecValidator)  # raises on the first problem

    operation = document["paths"]["/api/v1/openapi.json"]["get"]
    assert operation["security"] == []
    # 422: a query parameter it does not declare (every route refuses those).
    assert list(operation["responses"]) == ["200", "422"]
    answer = served.call("GET", "/api/v1/openapi.json?format=yaml")
    assert answer.status == 422 and answer.body["detail"][0]["loc"] == ["query", "format"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OpenApiDocument"}
    assert document["components"]["schemas"]["OpenApiDocument"]["type"] == "object"
    operation_ids = [op["operationId"] for item in document["paths"].values()
                     for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
