"""Compile a model's ``init`` in seconds instead of minutes, drawing exactly the numbers ``jax.jit`` draws.

``jax.jit(model.init)`` asks XLA for one threefry kernel per random-number call: Flax draws every parameter with
its own key, so a model with 1,000 parameters costs ~2,000 calls (a ``fold_in`` for the key, ``random_bits`` for
the values), and XLA:CPU spends ~0.3 s of LLVM code generation on each. esrgan at its defaults compiled its init in
~170 s on the reference CPU, dcgan in ~6 s. :func:`jit` traces the function once, then evaluates its jaxpr in
*waves* (every equation at one depth of the dependency graph) with the same operation on same-shaped inputs run
once, ``vmap``-ed over all of them: the parameters of one shape are drawn and scaled as one stacked array, and all
32-bit ``random_bits`` of a wave become one threefry call. The number of kernels then depends on how many distinct
shapes a model has, not on how many layers.

The draws are jax.jit's: only elementwise and shape operations and jax's own random primitives are batched, and
threefry is a hash of (key, counter), so computing many draws together changes no bit of them. Merging draws of
*different* shapes into one call uses jax's partitionable threefry (its default since 0.5), where element ``j`` of
``random_bits(key, shape)`` is the xor of the two words of ``fold_in(key, j)``; with the other setting, draws are
batched by shape only. The floats made from them equal jax.jit's in every GAN's init at XLA's default optimisation
level (all 32 checked on the reference CPU); where XLA fuses a draw's arithmetic differently (the polynomial of
``erf_inv`` contracted into fused multiply-adds or not: the captioning encoder's, with the test suite's LLVM
optimisation off) values differ by float rounding, as between two ``jax.jit`` programs that fuse it differently.

Equations repeated on the same inputs are computed once. The compiled program returns the stacks; they are split
into the parameters on the host, because XLA gives every output buffer a kernel of its own (esrgan's ~800 outputs
cost ~15 s of compile that way), and constant outputs (zeros) are made there too. esrgan's init at its defaults,
reference CPU, one sitting: 159 s with ``jax.jit``, 9.7 s here; dcgan's 6.5 -> 2.4 s.
"""

from __future__ import annotations

import collections
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core

# Equations whose vmapped form computes exactly what each one computes alone.
BATCHED = frozenset({
    "random_bits", "random_fold_in", "random_split", "random_wrap", "random_unwrap",
    "add", "sub", "mul", "div", "rem", "max", "min", "neg", "abs", "sign", "floor", "ceil", "round", "square",
    "sqrt", "rsqrt", "exp", "exp2", "log", "log1p", "expm1", "pow", "integer_pow", "tanh", "logistic", "sin", "cos",
    "erf", "erfc", "erf_inv", "nextafter", "is_finite", "clamp", "select_n", "copy", "copy_p",
    "lt", "gt", "le", "ge", "eq", "ne", "and", "or", "xor", "not", "shift_left", "shift_right_logical",
    "convert_element_type", "bitcast_convert_type", "broadcast_in_dim", "reshape", "squeeze", "expand_dims",
})
INLINED = frozenset({"jit", "pjit", "closed_call"})


class _Const:
    __slots__ = ("val",)

    def __init__(self, val):
        self.val = val


class _Node:
    """One equation of the flattened jaxpr; ``outs`` holds its results once evaluated."""
    __slots__ = ("eqn", "ins", "depth", "outs", "live")

    def __init__(self, eqn, ins):
        self.eqn, self.ins, self.depth, self.outs, self.live = eqn, ins, 0, None, False


class _Out:
    __slots__ = ("node", "i")

    def __init__(self, node, i):
        self.node, self.i = node, i


class _Row:
    """Row ``j`` of a stacked result, not sliced out until something needs it alone."""
    __slots__ = ("stack", "j")

    def __init__(self, stack, j):
        self.stack, self.j = stack, j


def _flatten(jaxpr, consts, args, nodes):
    """Append ``jaxpr``'s equations to ``nodes`` with nested ``jit`` calls inlined; returns its outputs."""
    env = {}

    def read(v):
        return _Const(v.val) if isinstance(v, core.Literal) else env[v]

    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        if eqn.primitive.name in INLINED and "jaxpr" in eqn.params:
            sub = eqn.params["jaxpr"]
            outs = _flatten(getattr(sub, "jaxpr", sub), [_Const(c) for c in getattr(sub, "consts", ())], ins, nodes)
        else:
            node = _Node(eqn, ins)
            nodes.append(node)
            outs = [_Out(node, i) for i in range(len(eqn.outvars))]
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


def _raw(ref):
    return ref.val if isinstance(ref, _Const) else ref.node.outs[ref.i]


def _value(ref):
    v = _raw(ref)
    if isinstance(v, _Row):
        v = v.stack[v.j]
        if isinstance(ref, _Out):
            ref.node.outs[ref.i] = v  # slice once
    return v


def _aval(ref) -> tuple:
    v = _raw(ref)
    if isinstance(v, _Row):
        return v.stack.shape[1:], str(jax.typeof(v.stack).dtype)
    return jnp.shape(v), str(jax.typeof(v).dtype)


def _stacked(refs):
    """The values of ``refs`` stacked on a new leading axis, gathered from the stacks they are rows of."""
    sources, index, rows, singles = [], {}, [], []
    for r in refs:
        v = _raw(r)
        if isinstance(v, _Row):
            if id(v.stack) not in index:
                index[id(v.stack)] = len(sources)
                sources.append(v.stack)
            rows.append((index[id(v.stack)], v.j))
        else:
            rows.append((None, len(singles)))
            singles.append(_value(r))
    if singles:
        sources.append(jnp.stack(singles))
    starts = np.cumsum([0] + [s.shape[0] for s in sources])
    flat = [int(starts[len(sources) - 1 if s is None else s] + j) for s, j in rows]
    base = sources[0] if len(sources) == 1 else jnp.concatenate(sources)
    return base if flat == list(range(base.shape[0])) else base[np.asarray(flat)]


def _bind(eqn, vals):
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*vals, **eqn.primitive.get_bind_params(eqn.params))
    return list(out) if eqn.primitive.multiple_results else [out]


def _same_const(a, b) -> bool:
    """Two constants equal as inputs (literals of one value in different equations count as one)."""
    if not (isinstance(a, _Const) and isinstance(b, _Const)):
        return False
    if a.val is b.val:
        return True
    return (np.ndim(a.val) == 0 and np.ndim(b.val) == 0 and jnp.result_type(a.val) == jnp.result_type(b.val)
            and bool(np.asarray(a.val) == np.asarray(b.val)))


def _run_group(members):
    """Evaluate equations that differ only in their inputs as one vmapped equation."""
    eqn = members[0].eqn
    if len(members) == 1:
        members[0].outs = _bind(eqn, [_value(r) for r in members[0].ins])
        return
    args, axes = [], []
    for c in range(len(eqn.invars)):
        refs = [n.ins[c] for n in members]
        if all(r is refs[0] for r in refs) or all(_same_const(r, refs[0]) for r in refs):
            args.append(_value(refs[0]))
            axes.append(None)
        else:
            args.append(_stacked(refs))
            axes.append(0)
    if all(a is None for a in axes):  # the same equation on the same inputs (zeros of one shape): computed once
        outs = _bind(eqn, args)
        for n in members:
            n.outs = list(outs)
        return
    results = jax.vmap(lambda *xs: _bind(eqn, xs), in_axes=axes)(*args)
    for j, n in enumerate(members):
        n.outs = [_Row(r, j) for r in results]


def _mergeable(node) -> bool:
    """A 32-bit ``random_bits`` of one partitionable threefry key (any output shape)."""
    if node.eqn.primitive.name != "random_bits" or node.eqn.params["bit_width"] != 32:
        return False
    shape, dtype = _aval(node.ins[0])
    return shape == () and dtype == "key<fry>" and bool(jax.config.jax_threefry_partitionable)


def _merged_bits(members):
    """Every member's bits from one threefry call: element j of ``random_bits(key, shape)`` is the xor of the words
    of ``fold_in(key, j)``. Members of one shape stay stacked for the vmapped equations that follow."""
    by_shape = collections.defaultdict(list)
    for n in members:
        by_shape[tuple(n.eqn.params["shape"])].append(n)
    probe = _stacked([members[0].ins[0]])
    first = jax.random.key_data(probe)[0, 0]
    zero = jax.lax.optimization_barrier(first) ^ first  # keeps XLA from folding the counters into a constant
    words, counters, layout, offset = [], [], [], 0
    for shape, group in by_shape.items():
        k, size = len(group), math.prod(shape)
        data = jax.random.key_data(_stacked([n.ins[0] for n in group]))
        words.append(jnp.broadcast_to(data[:, None, :], (k, size, 2)).reshape(k * size, 2))
        counters.append(jnp.broadcast_to(jax.lax.iota(jnp.uint32, size) + zero, (k, size)).reshape(k * size))
        layout.append((shape, group, offset))
        offset += k * size
    keys = jax.random.wrap_key_data(jnp.concatenate(words), impl=jax.random.key_impl(probe))
    out = jax.random.key_data(jax.vmap(jax.random.fold_in)(keys, jnp.concatenate(counters)))
    bits = out[:, 0] ^ out[:, 1]
    for shape, group, start in layout:
        stack = bits[start:start + len(group) * math.prod(shape)].reshape(len(group), *shape)
        for j, n in enumerate(group):
            n.outs = [_Row(stack, j)]


def _evaluate(closed, args):
    """Evaluate ``closed`` on ``args`` wave by wave; returns its outputs as raw values (arrays, rows, constants)."""
    nodes = []
    outs = _flatten(closed.jaxpr, [_Const(c) for c in closed.consts], [_Const(a) for a in args], nodes)
    pending = [r.node for r in outs if isinstance(r, _Out)]
    while pending:  # only what the outputs need (Flax's init runs a forward pass whose result it drops)
        n = pending.pop()
        if not n.live:
            n.live = True
            pending.extend(r.node for r in n.ins if isinstance(r, _Out))
    waves = collections.defaultdict(list)
    for n in nodes:
        if n.live:
            n.depth = 1 + max((r.node.depth for r in n.ins if isinstance(r, _Out)), default=0)
            waves[n.depth].append(n)
    for depth in sorted(waves):
        groups, bits = {}, []
        for n in waves[depth]:
            if _mergeable(n):
                bits.append(n)
            elif n.eqn.primitive.name in BATCHED:
                key = (n.eqn.primitive.name, repr(sorted(n.eqn.params.items())), tuple(_aval(r) for r in n.ins))
                groups.setdefault(key, []).append(n)
            else:
                groups[id(n)] = [n]
        if bits:
            _merged_bits(bits)
        for members in groups.values():
            _run_group(members)
    return outs


def _fill(ref):
    """(shape, value, dtype) if ``ref`` is a constant broadcast (zeros of Adam's moments, biases, BatchNorm
    statistics), else None."""
    if not isinstance(ref, _Out) or ref.node.eqn.primitive.name != "broadcast_in_dim":
        return None
    (operand,), aval = ref.node.ins, ref.node.eqn.outvars[0].aval
    if not isinstance(operand, _Const) or np.ndim(operand.val) != 0 or not jnp.issubdtype(aval.dtype, np.number):
        return None
    return tuple(aval.shape), np.asarray(operand.val).item(), np.dtype(aval.dtype)


def jit(fn: Callable[..., Any], out_shardings=None):
    """``jax.jit(fn, out_shardings=out_shardings)`` for a function that draws many parameters, compiled as above.

    ``fn`` takes arrays (a PRNG key) and returns a pytree of arrays; the result gives what ``jax.jit(fn)`` gives.
    The compiled program returns the stacks its outputs were computed in; they are split into the output leaves on
    the host and put on the devices (``out_shardings``), and constant broadcasts (zeros of Adam's moments, biases,
    BatchNorm statistics) are made there, since XLA would give every output buffer a kernel of its own. Functions
    with side effects are evaluated as they are.
    """
    recipe = {}

    def computed(*args):
        flat, tree = jax.tree.flatten(args)
        closed, shapes = jax.make_jaxpr(lambda *f: fn(*jax.tree.unflatten(tree, f)), return_shape=True)(*flat)
        recipe["tree"] = jax.tree.structure(shapes)
        if closed.effects:
            outs = core.jaxpr_as_fun(closed)(*flat)
            recipe["leaves"] = [("array", i, None) for i in range(len(outs))]
            return outs
        arrays, index, leaves = [], {}, []
        for ref in _evaluate(closed, flat):
            fill = _fill(ref)
            if fill is not None:
                leaves.append(("fill", fill, None))
                continue
            v = _raw(ref)
            if isinstance(v, _Row) and not jax.dtypes.issubdtype(v.stack.dtype, jax.dtypes.extended):
                base, kind, j = v.stack, "row", v.j
            else:
                base, kind, j = _value(ref), "array", None
            if id(base) not in index:
                index[id(base)] = len(arrays)
                arrays.append(base)
            leaves.append((kind, index[id(base)], j))
        recipe["leaves"] = leaves
        return arrays

    compiled = jax.jit(computed, out_shardings=out_shardings)

    def run(*args):
        arrays = compiled(*args)
        on_host, given = {}, set()

        def leaf(kind, i, j):
            if kind == "fill":
                return jax.device_put(np.full(*i), out_shardings)
            if kind == "array":  # an array two leaves share is copied: each leaf must own its buffer (donation)
                out = arrays[i] if i not in given else jnp.array(arrays[i], copy=True)
                given.add(i)
                return out
            if not arrays[i].sharding.is_fully_replicated:
                return arrays[i][j]
            if i not in on_host:  # one local replica (every process has one, also across hosts)
                on_host[i] = np.asarray(arrays[i].addressable_data(0))
            return jax.device_put(on_host[i][j], out_shardings)

        return jax.tree.unflatten(recipe["tree"], [leaf(*x) for x in recipe["leaves"]])

    run.lower = compiled.lower  # the compiled part (stacks, no constants), for inspection and tests
    return run
