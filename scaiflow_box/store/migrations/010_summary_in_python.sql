-- `flows.summary` is written by the store (store/flows.py: `insert_flow`, `update_flow`), in
-- the statement that changes the flow, no longer by the triggers of 008. The same bytes:
-- `summary_json` prints what `json_object` printed (tests/store/test_flow_summary.py). Why:
-- MariaDB's JSON_OBJECT prints other bytes (a space after each `:` and `,`), and the stored
-- summary is spliced into responses as it is, so both engines must make it alike
-- (docs/scale-out.md §2). Every summary is right when this runs (the triggers kept it so),
-- so none is rewritten.

DROP TRIGGER flows_summary_insert;
DROP TRIGGER flows_summary_update;
