"""Static scan of pickle and joblib files: what they would import, without unpickling.

A symbolic stack machine follows the opcodes from `pickletools.genops` far
enough to name the callables the file would import (GLOBAL, INST and
STACK_GLOBAL, whose operands are earlier string pushes, possibly through the
memo). Nothing is ever imported or called.

joblib writes raw numpy buffers *inside* the pickle stream, right after the
BUILD of each `NumpyArrayWrapper`; the machine rebuilds the wrapper's shape
and dtype from the opcodes to step over those bytes (or to scan the nested
pickle that holds an object array). When that is not possible the scan stops
and says it is incomplete rather than guessing.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import io
import pathlib
import pickletools
import struct
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

# Magic numbers joblib checks, in the same order, to decide a file is compressed.
JOBLIB_COMPRESSION_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"ZF", "zlib"),
    (b"\x78", "zlib"),
    (b"\x1f\x8b", "gzip"),
    (b"BZ", "bz2"),
    (b"\xfd\x37\x7a\x58\x5a", "xz"),
    (b"\x5d\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
)

_ARRAY_WRAPPERS = {
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
}
_SCAN_ERRORS = (
    ValueError,
    EOFError,
    struct.error,
    OverflowError,
    TypeError,
    IndexError,
    KeyError,
    RecursionError,
    MemoryError,
)


class PickleScanError(ValueError):
    """The bytes are not a well-formed pickle stream."""


@dataclass(frozen=True)
class PickleScan:
    globals: list[str]
    """Sorted "module.qualname" of everything the file imports (or could not be resolved)."""
    complete: bool
    """False when part of the stream could not be followed, so `globals` may be partial."""
    compression: str | None = None
    """The joblib compression, when the file is compressed and was therefore not scanned."""


def scan_pickle(path: pathlib.Path, *, joblib: bool = False) -> PickleScan:
    """List what the pickle (or uncompressed joblib) file at `path` would import.

    Raises PickleScanError when the bytes are not a pickle stream.
    """
    with pathlib.Path(path).open("rb") as handle:
        if joblib:
            head = handle.read(8)
            for prefix, name in JOBLIB_COMPRESSION_PREFIXES:
                if head.startswith(prefix):
                    # Inflating an upload of unknown ratio is a memory bomb; report instead.
                    return PickleScan(globals=[], complete=False, compression=name)
        scanner = _Scanner(handle, joblib=joblib)
        try:
            scanner.run()
        except PickleScanError:
            raise
        except _SCAN_ERRORS as exc:
            raise PickleScanError(str(exc) or type(exc).__name__) from exc
        return PickleScan(globals=sorted(scanner.globals), complete=scanner.complete)


# --- symbolic values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Global:
    module: str | None
    name: str | None

    @property
    def dotted(self) -> str | None:
        if self.module is None or self.name is None:
            return None
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class _Object:
    factory: Any
    args: Any
    state: Any = None


@dataclass(eq=False)
class _Dict:
    items: dict[Any, Any] = field(default_factory=dict)

    def set(self, key: Any, value: Any) -> None:
        # An unhashable symbolic key is dropped: nothing read later depends on it.
        with contextlib.suppress(TypeError):
            self.items[key] = value


@dataclass(eq=False)
class _Opaque:
    """A value the scan does not model (a list, a set, an external buffer, ...)."""


_PUSH_ARGUMENT = {
    "INT",
    "BININT",
    "BININT1",
    "BININT2",
    "LONG",
    "LONG1",
    "LONG4",
    "FLOAT",
    "BINFLOAT",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "BINBYTES",
    "SHORT_BINBYTES",
    "BINBYTES8",
    "BYTEARRAY8",
}
_PUSH_CONSTANT = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
_NO_EFFECT = {"PROTO", "FRAME", "READONLY_BUFFER", "STOP"}


class _Scanner:
    def __init__(self, handle: IO[bytes], *, joblib: bool) -> None:
        self.handle = handle
        self.joblib = joblib
        self.globals: set[str] = set()
        self.complete = True
        handle.seek(0, io.SEEK_END)
        self.size = handle.tell()
        handle.seek(0)

    def run(self) -> None:
        self._scan_stream(array_wrappers=self.joblib)

    def _record(self, module: Any, name: Any, protocol: int) -> _Global:
        if not isinstance(module, str) or not isinstance(name, str):
            self.globals.add("<unresolved global>")
            return _Global(None, None)
        if protocol < 3:
            # What pickle.Unpickler(fix_imports=True) really imports for Python 2 names.
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        self.globals.add(f"{module}.{name}")
        return _Global(module, name)

    def _scan_stream(self, *, array_wrappers: bool) -> None:
        stack: list[Any] = []
        marks: list[int] = []
        memo: dict[int, Any] = {}
        protocol = 0

        def pop() -> Any:
            if not stack or (marks and len(stack) == marks[-1]):
                raise PickleScanError("stack underflow")
            return stack.pop()

        def pop_mark() -> list[Any]:
            if not marks:
                raise PickleScanError("MARK expected")
            start = marks.pop()
            items = stack[start:]
            del stack[start:]
            return items

        for opcode, arg, _position in pickletools.genops(self.handle):
            name = opcode.name
            if name in _PUSH_ARGUMENT:
                stack.append(arg)
            elif name in _PUSH_CONSTANT:
                stack.append(_PUSH_CONSTANT[name])
            elif name in _NO_EFFECT:
                if name == "PROTO":
                    protocol = int(arg)
            elif name == "MARK":
                marks.append(len(stack))
            elif name == "POP":
                if stack and not (marks and len(stack) == marks[-1]):
                    stack.pop()
                else:
                    pop_mark()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            elif name in {"GLOBAL", "INST"}:
                module, _, attribute = str(arg).partition(" ")
                found = self._record(module, attribute, protocol)
                if name == "INST":
                    stack.append(_Object(found, tuple(pop_mark())))
                else:
                    stack.append(found)
            elif name == "STACK_GLOBAL":
                attribute = pop()
                module = pop()
                stack.append(self._record(module, attribute, protocol))
            elif name in {"EXT1", "EXT2", "EXT4"}:
                # Resolved through copyreg's extension registry, which is empty by default.
                self.globals.add(f"<extension code {arg}>")
                stack.append(_Opaque())
            elif name in {"REDUCE", "NEWOBJ"}:
                args = pop()
                stack.append(_Object(pop(), args))
            elif name == "NEWOBJ_EX":
                pop()  # kwargs
                args = pop()
                stack.append(_Object(pop(), args))
            elif name == "OBJ":
                items = pop_mark()
                if not items:
                    raise PickleScanError("OBJ without a class")
                stack.append(_Object(items[0], tuple(items[1:])))
            elif name == "BUILD":
                state = pop()
                target = stack[-1]
                if isinstance(target, _Object):
                    target.state = state
                if array_wrappers and _is_array_wrapper(target):
                    stack[-1] = _Opaque()  # joblib swaps the wrapper for the array it reads
                    if not self._step_over_array(target):
                        self.complete = False
                        return
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name in {"TUPLE1", "TUPLE2", "TUPLE3"}:
                count = int(name[-1])
                items = [pop() for _ in range(count)][::-1]
                stack.append(tuple(items))
            elif name == "EMPTY_DICT":
                stack.append(_Dict())
            elif name == "DICT":
                items = pop_mark()
                built = _Dict()
                for key, value in zip(items[::2], items[1::2], strict=False):
                    built.set(key, value)
                stack.append(built)
            elif name == "SETITEM":
                value = pop()
                key = pop()
                if isinstance(stack[-1], _Dict):
                    stack[-1].set(key, value)
            elif name == "SETITEMS":
                items = pop_mark()
                if isinstance(stack[-1], _Dict):
                    for key, value in zip(items[::2], items[1::2], strict=False):
                        stack[-1].set(key, value)
            elif name in {"EMPTY_LIST", "EMPTY_SET"}:
                stack.append(_Opaque())
            elif name in {"LIST", "FROZENSET"}:
                pop_mark()
                stack.append(_Opaque())
            elif name == "APPEND":
                pop()
                _ = stack[-1]
            elif name in {"APPENDS", "ADDITEMS"}:
                pop_mark()
                _ = stack[-1]
            elif name in {"PUT", "BINPUT", "LONG_BINPUT"}:
                memo[int(arg)] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in {"GET", "BINGET", "LONG_BINGET"}:
                if int(arg) not in memo:
                    raise PickleScanError(f"memo key {arg} read before it was written")
                stack.append(memo[int(arg)])
            elif name == "PERSID":
                self.globals.add("<persistent id>")
                stack.append(_Opaque())
            elif name == "BINPERSID":
                pop()
                self.globals.add("<persistent id>")
                stack.append(_Opaque())
            elif name == "NEXT_BUFFER":
                stack.append(_Opaque())
            else:  # an opcode newer than this scanner: say so rather than guess its effect
                self.complete = False
                return
            if name == "STOP" and not stack:
                raise PickleScanError("STOP with an empty stack")

    def _step_over_array(self, wrapper: _Object) -> bool:
        """Move past the array bytes joblib wrote after this wrapper; False if unknowable."""
        state = wrapper.state.items if isinstance(wrapper.state, _Dict) else None
        if state is None:
            return False
        shape = state.get("shape")
        layout = _dtype_layout(state.get("dtype"))
        if not isinstance(shape, tuple) or layout is None:
            return False
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            return False
        itemsize, has_object = layout
        if has_object:
            # Object arrays are a complete nested pickle (no array wrappers inside).
            self._scan_stream(array_wrappers=False)
            return True
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.handle.read(1)
            if len(padding) != 1:
                raise PickleScanError("joblib array padding is missing")
            self.handle.seek(padding[0], io.SEEK_CUR)
        count = 1
        for n in shape:
            count *= n
        target = self.handle.tell() + count * itemsize
        if target > self.size:
            raise PickleScanError("joblib array data runs past the end of the file")
        self.handle.seek(target)
        return True


def _is_array_wrapper(value: Any) -> bool:
    if not isinstance(value, _Object) or not isinstance(value.factory, _Global):
        return False
    factory = value.factory
    if factory.dotted == "copyreg._reconstructor" and isinstance(value.args, tuple):
        # Protocols 0 and 1 build instances as copyreg._reconstructor(cls, object, None).
        factory = value.args[0] if value.args else None
    return isinstance(factory, _Global) and factory.dotted in _ARRAY_WRAPPERS


def _dtype_layout(value: Any) -> tuple[int, bool] | None:
    """(itemsize, has_object) of a pickled `numpy.dtype(descr, ...)`, without numpy unpickling."""
    if not (
        isinstance(value, _Object)
        and isinstance(value.factory, _Global)
        and value.factory.dotted in {"numpy.dtype", "numpy.core.multiarray.dtype"}
        and isinstance(value.args, tuple)
        and value.args
        and isinstance(value.args[0], str)
        and len(value.args[0]) <= 32
    ):
        return None
    descr = value.args[0]
    state = value.state if isinstance(value.state, tuple) else ()
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    if descr.startswith("O") or flags & 0x1:  # NPY_ITEM_REFCOUNT: holds Python objects
        return 0, True
    try:
        # Parsing a type string such as "f8" or "V16" imports and runs nothing.
        return np.dtype(descr).itemsize, False
    except (TypeError, ValueError):
        return None
