"""PyInstaller hook for `swagger-ui-bundle-v2`: only the assets `/api/v1/docs` serves.

The package ships the whole Swagger UI distribution (~12 MB with source maps and the ES
bundles); `scaiflow_box/api/reference.py` serves three of its files (its fourth, `init.js`,
is ours), so only those are collected. tests/test_packaging.py holds this list equal to
`reference.ASSETS`.
"""

from pathlib import Path

from PyInstaller.utils.hooks import get_package_paths

SERVED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")

_, _package_dir = get_package_paths("swagger_ui_bundle")
_vendor = Path(_package_dir) / "vendor"
datas = []
for _dist in sorted(_vendor.glob("swagger-ui-*")):
    for _name in SERVED:
        datas.append((str(_dist / _name), f"swagger_ui_bundle/vendor/{_dist.name}"))
