"""PyInstaller hook for Textual (pyinstaller-hooks-contrib has none).

`textual.widgets` resolves its widget classes lazily (`__getattr__` + `import_module`), which
the import analysis cannot follow; `textual.__version__` reads the package metadata. The demo
is not collected: nothing of ours runs it.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

hiddenimports = collect_submodules("textual.widgets")
datas = collect_data_files("textual", excludes=["demo", "demo/**"]) + copy_metadata("textual")
excludedimports = ["textual.demo"]
