"""params.yaml read as DVC reads it, so that the stages and DVC see one file the same way.

DVC parses params.yaml with ruamel.yaml's safe loader (YAML 1.2: `yes` is a string, `1e-3` a number, `017`
decimal) and refuses a mapping that holds a key twice. PyYAML reads YAML 1.1 and keeps the last of two
keys, so `fmnist check-params` once answered "ok" for a file `dvc repro` then refused, and could read a value
differently from `dvc params diff`. Here the same loader reads it; a key given twice is refused naming both
lines, and any other YAML fault names its line.
"""

from __future__ import annotations

from pathlib import Path

from fmnist.errors import ParamsError


def _key_text(node) -> str:
    return str(node.value) if node.id == "scalar" else "<a complex key>"


def _duplicate(node, path: str = ""):
    """(dotted key, first line, second line) of the first key a mapping under `node` holds twice, or None."""
    if node.id == "mapping":
        lines: dict = {}
        for key, value in node.value:
            if key.id == "scalar" and key.tag.endswith(":merge"):
                continue  # `<<: *defaults` merges; it may repeat
            name, same = _key_text(key), (key.tag, key.value) if key.id == "scalar" else id(key)
            if same in lines:  # `1` and `"1"` differ (an int and a string), as they do for DVC
                return f"{path}{name}", lines[same], key.start_mark.line + 1
            lines[same] = key.start_mark.line + 1
            found = _duplicate(value, f"{path}{name}.")
            if found:
                return found
    elif node.id == "sequence":
        for i, item in enumerate(node.value):
            found = _duplicate(item, f"{path}{i}.")
            if found:
                return found
    return None


def parse_yaml(text: str, where: str):
    """The data of a YAML document as DVC's parser gives it; a ParamsError naming `where` and the line when
    DVC would refuse it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    loader = YAML(typ="safe")  # what dvc.utils.serialize.parse_yaml uses
    try:
        tree = loader.compose(text)
        found = _duplicate(tree) if tree is not None else None
        if found:
            key, first, second = found
            raise ParamsError(f"{where}: key {key} is given twice, at lines {first} and {second}; keep one "
                              "(DVC refuses a file that repeats a key)")
        return loader.load(text) or {}  # as DVC: an empty file (or a false one) is an empty mapping
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = f" ({exc.problem})" if exc.problem else ""
        raise ParamsError(f"{where}: not valid YAML{line}{problem}") from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()
        raise ParamsError(f"{where}: not valid YAML ({first[0] if first else type(exc).__name__})") from None


def read_yaml(path: str | Path):
    """The data of the YAML file at `path`, read as DVC reads it (UTF-8)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found (run from the project root)") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_yaml(text, str(path))
