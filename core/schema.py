"""The label set (configs/schema.yaml) and the Label Studio labeling config made from it."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
import importlib.util
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .config import from_dict, read_yaml
from .errors import InputError


@dataclass(frozen=True)
class EntityType:
    zh: str
    color: str
    hotkey: str = ""


@dataclass(frozen=True)
class RelationType:
    head: tuple[str, ...]
    tail: tuple[str, ...]


@dataclass(frozen=True)
class Labeling:
    text_field: str = "text"
    labels_name: str = "label"
    text_name: str = "text"


@dataclass(frozen=True)
class Schema:
    entities: dict[str, EntityType]
    relations: dict[str, RelationType]
    labeling: Labeling = field(default_factory=Labeling)

    @property
    def entity_labels(self) -> tuple[str, ...]:
        return tuple(self.entities)

    @property
    def relation_labels(self) -> tuple[str, ...]:
        return tuple(self.relations)

    def relation_allowed(self, label: str, head_label: str, tail_label: str) -> bool:
        spec = self.relations.get(label)
        return spec is not None and head_label in spec.head and tail_label in spec.tail

    def relation_for(self, head_label: str, tail_label: str) -> str | None:
        """The relation label that joins these two entity types, if exactly one does."""
        found = [r for r, s in self.relations.items() if head_label in s.head and tail_label in s.tail]
        return found[0] if len(found) == 1 else None

    def check(self, where: str) -> None:
        for name, rel in self.relations.items():
            for role, labels in (("head", rel.head), ("tail", rel.tail)):
                unknown = [x for x in labels if x not in self.entities]
                if unknown:
                    raise InputError(
                        f"{where}: relation {name!r} allows {role} type(s) {unknown} that are not entity "
                        f"labels ({', '.join(self.entities)}); add them under entities: or fix the name"
                    )


def config_path(name: str) -> Path:
    """A file in the project's configs/: the checkout's folder in an editable install, the
    wheel's copy (package minzheng_ie.configs, data only) otherwise."""
    spec = importlib.util.find_spec("minzheng_ie.configs")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the configs/ folder is not installed with minzheng_ie; reinstall the package (pip install .)")
    return Path(list(spec.submodule_search_locations)[0]) / name


@cache
def load_schema(path: str | None = None) -> Schema:
    p = Path(path) if path else config_path("schema.yaml")
    data = read_yaml(p)
    schema = from_dict(Schema, data, str(p))
    schema.check(str(p))
    return schema


def labeling_config(schema: Schema) -> str:
    """The Label Studio labeling config: a <Text> to label, <Labels> per entity type, <Relations>.

    `granularity="symbol"` lets spans start and end on any character, which Chinese needs
    (the default word granularity snaps to whitespace-separated words).
    """
    lab = schema.labeling
    legend = " · ".join(f"{name} {ent.zh}" for name, ent in schema.entities.items())
    lines = ["<View>", f"  <Header value={quoteattr(legend)} size=\"6\"/>", "  <Relations>"]
    lines += [f"    <Relation value={quoteattr(r)}/>" for r in schema.relations]
    lines.append("  </Relations>")
    lines.append(f"  <Labels name={quoteattr(lab.labels_name)} toName={quoteattr(lab.text_name)}>")
    for name, ent in schema.entities.items():
        hot = f" hotkey={quoteattr(ent.hotkey)}" if ent.hotkey else ""
        lines.append(
            f"    <Label value={quoteattr(name)} background={quoteattr(ent.color)}{hot}/>"
        )
    lines.append("  </Labels>")
    lines.append(
        f"  <Text name={quoteattr(lab.text_name)} value={quoteattr('$' + lab.text_field)} granularity=\"symbol\"/>"
    )
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def checked_labeling_config(schema: Schema) -> str:
    """labeling_config(), validated by label-studio-sdk's LabelInterface (raises on an invalid config)."""
    from label_studio_sdk.label_interface import LabelInterface

    xml = labeling_config(schema)
    LabelInterface(xml).validate()
    return xml
