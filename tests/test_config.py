from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from minzheng_ie.core.config import apply_overrides, from_dict, load_config, to_dict
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.schema import load_schema


@dataclass(frozen=True)
class Optim:
    lr: float = 5e-5
    epochs: int = 3


@dataclass(frozen=True)
class Train:
    base_model: str
    labels: tuple[str, ...] = ()
    optim: Optim = field(default_factory=Optim)
    note: str | None = None


def test_load_with_dotted_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("base_model: scratch:tiny\noptim:\n  lr: 3.0e-5\n", encoding="utf-8")
    cfg = load_config(Train, path, ["optim.epochs=7", "labels=[region, count]", "note=fine"])
    assert cfg == Train("scratch:tiny", ("region", "count"), Optim(3e-5, 7), "fine")
    assert to_dict(cfg)["optim"] == {"lr": 3e-5, "epochs": 7}
    with pytest.raises(FrozenInstanceError):
        cfg.base_model = "x"


def test_exponent_floats_without_a_dot_are_floats(tmp_path):
    # PyYAML reads 5e-3 (no dot) as a string; a float field takes it, from the file or --set
    cfg = load_config(Train, _write(tmp_path, "base_model: x\noptim: {lr: 5e-3}\n"), ["optim.epochs=2"])
    assert cfg.optim.lr == 5e-3 and isinstance(cfg.optim.lr, float)
    assert load_config(Train, _write(tmp_path, "base_model: x\n"), ["optim.lr=-2E+2"]).optim.lr == -200.0
    with pytest.raises(InputError, match="expected float, got '5e-3x'"):
        load_config(Train, _write(tmp_path, "base_model: x\n"), ["optim.lr=5e-3x"])
    with pytest.raises(InputError, match="expected str, got 0.005"):  # a str field is not a number
        load_config(Train, _write(tmp_path, "base_model: x\n"), ["note=5.0e-3"])


def test_unknown_keys_and_bad_types_name_the_file_and_key(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("base_model: x\noptim:\n  learning_rate: 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"train.yaml.optim: unknown key\(s\) learning_rate; allowed keys are epochs, lr"):
        load_config(Train, path)
    with pytest.raises(InputError, match=r"other.yaml.optim.epochs: expected int, got .many."):
        load_config(Train, _write(tmp_path, "base_model: x\noptim: {epochs: many}\n"))
    with pytest.raises(InputError, match="missing required key"):
        from_dict(Train, {}, "cfg")
    with pytest.raises(InputError, match="key=value"):
        apply_overrides({}, ["optim.lr"])


def _write(tmp_path, text):
    p = tmp_path / "other.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_schema_rejects_unknown_keys_and_bad_relation_types(tmp_path):
    bad = tmp_path / "schema.yaml"
    bad.write_text("entities: {region: {zh: 地区, color: '#fff'}}\nrelations: {in_region: {head: [programme], "
                   "tail: [region]}}\n", encoding="utf-8")
    with pytest.raises(InputError, match="not entity labels"):
        load_schema(str(bad))
    bad.write_text("entities: {}\nrelations: {}\ncolours: {}\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown key"):
        load_schema(str(bad))
