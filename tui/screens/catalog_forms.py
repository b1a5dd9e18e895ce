"""The forms of the Catalog: where to write an exported `.scaipkg`, which file to import."""

from __future__ import annotations

from collections.abc import Mapping

from tui.screens.form import Field, FormScreen, existing_file, new_file


class ExportForm(FormScreen[str]):
    HINT = ("The version's .scaipkg exactly as stored (its sha256 is on the screen); carry it "
            "to another appliance and import it there.")
    SUBMIT_LABEL = "Export"

    def __init__(self, package_id: str, version: str) -> None:
        super().__init__()
        self.package_id = package_id
        self.version = version

    def title_text(self) -> str:
        return f"Export {self.package_id} {self.version}"

    def fields(self) -> list[Field]:
        return [Field("file", "Save as", "a new file",
                      f"{self.package_id}-{self.version}.scaipkg")]

    def build(self, values: Mapping[str, str]) -> str:
        return new_file("file", values["file"])


class ImportForm(FormScreen[str]):
    TITLE_TEXT = "Import a .scaipkg"
    HINT = ("A package exported from an appliance. This appliance checks the archive, "
            "validates and compiles the flow again, and adds the package (or its version) to "
            "the tenant shown.")
    SUBMIT_LABEL = "Import"

    def fields(self) -> list[Field]:
        return [Field("file", "File", "e.g. ~/support-agent-0.1.0.scaipkg")]

    def build(self, values: Mapping[str, str]) -> str:
        return existing_file("file", values["file"])
