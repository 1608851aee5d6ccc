"""A non-editable install works from outside the repository: every subpackage imports from the
installed copy, and the packaged configs are found."""
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SUBPACKAGES = ["minzheng_ie.annotation", "minzheng_ie.annotation.rules", "minzheng_ie.training",
               "minzheng_ie.inference", "minzheng_ie.eval"]


def test_wheel_install_imports_every_subpackage(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(REPO)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("minzheng_ie-*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, cwd=tmp_path)
    probe = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        f"for name in {SUBPACKAGES!r}:\n"
        "    mod = importlib.import_module(name)\n"
        f"    assert mod.__file__.startswith({str(target)!r}), (name, mod.__file__)\n"
        "from minzheng_ie.core.schema import config_path, load_schema\n"
        f"assert str(config_path('schema.yaml')).startswith({str(target)!r})\n"
        "assert load_schema().entity_labels == ('region', 'programme', 'amount', 'count', 'standard')\n"
        "from minzheng_ie.annotation.rules import RuleTagger\n"
        "from minzheng_ie.core.record import Doc\n"
        "print(len(RuleTagger()(Doc('d', '重庆市支出低保资金47.22亿元。')).entities))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    files = {p.name for p in Path(target, "minzheng_ie", "configs").iterdir()}
    assert {"schema.yaml", "programmes.yaml", "regions.yaml"} <= files
