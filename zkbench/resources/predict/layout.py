"""The circuit's columns and argument counts, replayed from settings.json: exact for what the ezkl 23
backend lays out (halo2 with ezkl's chips). Another backend with another layout gets its own module."""

from __future__ import annotations

import math

FIELD_BYTES = 32  # one BN254 scalar, raw bytes
G1_BYTES = 64  # one uncompressed G1 point, raw bytes (vk commitments)
BLINDING_FACTORS = 5  # halo2: max(3, advice queries per column) + 2; ezkl's gates query at most 2 rotations
TABLE_PAD = 3  # ezkl RESERVED_BLINDING_ROWS_PAD: table columns hold n - (blinding + 3) rows
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc: blocks this big are always mmapped, so freed ones go back to the OS


def _blocks(capacity: int, usable_rows: int, inner: int) -> int:
    """VarTensor::new_advice: how many blocks of `inner` columns hold `capacity` cells (one row spare per column)."""
    per_block = usable_rows * inner
    modulo = capacity // per_block + 1
    return (capacity + modulo) // per_block + 1


def _constant_columns(num_constants: int, usable_rows: int, module_fixed: bool) -> int:
    if num_constants == 0:
        return 1 if module_fixed else 0
    modulo = num_constants // usable_rows + 1
    return (num_constants + modulo) // usable_rows + 1


def _table_columns(lo: int, hi: int, col_size: int) -> int:
    """ezkl num_cols_required: columns one lookup / range-check table spans."""
    return abs(hi - lo) // col_size + 1


def _compressed_selector_columns(degrees: list[int], max_degree: int) -> int:
    """halo2 compress_selectors::process, with every pair of selectors assumed exclusive (never on the same row).

    A selector of gate degree g costs g - 1 plus one per selector sharing its column; a column is closed when it
    reaches max_degree. Selectors in no gate (degree 0) get a column each.
    """
    cols = sum(1 for d in degrees if d == 0)
    sel = [d for d in degrees if d > 0]
    added = [False] * len(sel)
    for i, d_i in enumerate(sel):
        if added[i]:
            continue
        added[i] = True
        d, size = d_i - 1, 1
        for j in range(i + 1, len(sel)):
            if d + size == max_degree:
                break
            if added[j]:
                continue
            new_d = max(d, sel[j] - 1)
            if new_d + size + 1 > max_degree:
                continue
            d, size, added[j] = new_d, size + 1, True
        cols += 1
    return cols


def _chunked_lookup_arguments(groups: list[tuple[int, list[int]]], min_degree: int) -> tuple[int, int]:
    """halo2 (zkonduit, mv-lookup) chunk_lookups: pack the inputs of each table into logUp arguments.

    groups: (table expression degree, [input expression degree per cs.lookup call on that table]).
    Returns (number of arguments, their largest required degree).
    """
    n_args, max_deg = 0, 0
    for table_deg, inputs in groups:
        args: list[list[int]] = []
        for inp in inputs:
            for a in args:
                if _lookup_degree(table_deg, a) + inp <= min_degree:
                    a.append(inp)
                    break
            else:
                args.append([inp])
        n_args += len(args)
        max_deg = max([max_deg] + [_lookup_degree(table_deg, a) for a in args])
    return n_args, max_deg


def _lookup_degree(table_deg: int, inputs: list[int]) -> int:
    return max(3 + len(inputs), table_deg + sum(inputs) + 2)


def _einsum_output_axes(settings: dict) -> int:
    """Largest number of non-trivial output axes over the einsum equations (RLC gates per axis)."""
    best = 0
    for eq, dims in (settings.get("einsum_params") or {}).get("equations") or []:
        out = eq.split("->", 1)[1] if "->" in eq else ""
        best = max(best, sum(1 for c in out if dims.get(c, 1) > 1))
    return best


def _instances(settings: dict) -> int:
    shapes = settings.get("model_instance_shapes") or []
    return sum(math.prod(s) for s in shapes)


def columns(settings: dict) -> dict:
    """Column counts, constraint degree, selector count and the structural key sizes of a circuit."""
    ra = settings["run_args"]
    k = int(ra["logrows"])
    n = 2**k
    nic = int(ra.get("num_inner_cols") or 1)
    bf = settings.get("num_blinding_factors") or BLINDING_FACTORS
    usable = n - bf - 1
    table_rows = n - (bf + TABLE_PAD)
    notes: list[str] = []

    blocks = _blocks(int(settings.get("total_assignments") or 0), usable, nic)
    advice = 3 * nic * blocks
    simple: list[int] = []  # gate degree of every simple selector, in creation order
    complex_sel = 0
    gate_degree = 3  # Mult / Dot gates
    for _ in range(blocks):  # nonaccum: Add (2), Sub (2), Mult (3) per inner column
        simple += [2, 2, 3] * nic
    for _ in range(blocks):  # accum: DotInit, Dot, CumProd, CumProdInit, Sum, SumInit
        simple += [3, 3, nic + 2, nic + 1, 2, 2]
    gate_degree = max(gate_degree, nic + 2)

    # static lookups (tables: shared input columns + an output column each) and range checks (input columns)
    lookup_groups: list[tuple[int, list[int]]] = []
    table_cols = 0
    lo, hi = ra.get("lookup_range") or [0, 0]
    lookups = settings.get("required_lookups") or []
    if lookups:
        t = _table_columns(int(lo), int(hi), table_rows)
        table_cols += t + t * len(lookups)
        complex_sel += nic * blocks * len(lookups)
        if t > 1:
            gate_degree = max(gate_degree, t + 1)
            notes.append(f"lookup table spans {t} columns")
        for _ in lookups:
            for _ in range(t):
                lookup_groups.append((1, [t + 1] * (nic * blocks)))
    for r_lo, r_hi in settings.get("required_range_checks") or []:
        t = _table_columns(int(r_lo), int(r_hi), table_rows)
        table_cols += t
        complex_sel += nic * blocks
        if t > 1:
            gate_degree = max(gate_degree, t + 1)
            notes.append(f"range check {r_lo}..{r_hi} spans {t} columns")
        for _ in range(t):
            lookup_groups.append((1, [t + 1] * (nic * blocks)))

    # shuffles and dynamic lookups: three single-column advice tables, selectors per table block and input cell
    dyn_size = int(settings.get("total_dynamic_col_size") or 0) + int(settings.get("total_shuffle_col_size") or 0)
    n_dyn = int(settings.get("num_dynamic_lookups") or 0)
    n_shuf = int(settings.get("num_shuffles") or 0)
    if n_dyn or n_shuf:
        q = _blocks(dyn_size, usable, 1)
        advice += 3 * q
        for _ in range(int(n_dyn > 0) + int(n_shuf > 0)):
            complex_sel += q * (1 + nic * blocks)
            for _ in range(q):
                lookup_groups.append((2, [2] * (nic * blocks)))

    # Freivalds einsums: 6 more advice tensors, contraction and RLC gates
    einsum_size = int((settings.get("einsum_params") or {}).get("total_einsum_col_size") or 0)
    if einsum_size > 0:
        eb = _blocks(einsum_size, usable, nic)
        advice += 6 * nic * eb
        for _phase in range(3):
            simple += [3] * (nic * eb) + [3, 3] * eb * eb
        for _phase in range(2):
            simple += [2, 2, nic + 1, nic + 2] * eb
        simple += [2, 2] * (2 * eb * _einsum_output_axes(settings))
        notes.append("einsum (Freivalds) columns approximated")

    # modules: hashed / polycommit visibilities add a Poseidon chip -- approximated
    vis = [str(ra.get(v, "")) for v in ("input_visibility", "output_visibility", "param_visibility")]
    module_fixed = any(v.lower().startswith("hashed") for v in vis)
    module_fixed_cols = 0
    if module_fixed:
        advice += 3
        module_fixed_cols += 4
        simple += [5, 5, 5]
        notes.append("poseidon module columns approximated")

    instance = 1
    const_cols = _constant_columns(int(settings.get("total_const_size") or 0), usable, module_fixed)

    lookup_args_single = max([_lookup_degree(t, [i[0]]) for t, i in lookup_groups if i], default=0)
    min_degree = max(gate_degree, lookup_args_single)
    lookup_args, lookup_degree = _chunked_lookup_arguments(lookup_groups, min_degree)
    degree = max(3, gate_degree, lookup_degree)
    extension = 1 << max(0, math.ceil(math.log2(max(degree - 1, 1))))

    selector_cols = _compressed_selector_columns(simple, degree) + complex_sel
    fixed = const_cols + table_cols + selector_cols + module_fixed_cols
    equality = advice + instance + const_cols
    perm_chunks = math.ceil(equality / (degree - 2))
    num_selectors = len(simple) + complex_sel
    vk_bytes = 7 + G1_BYTES * (fixed + equality) + num_selectors * math.ceil(n / 8)
    # + serialization framing: 36 bytes, and 24 per column (length prefixes of its three polynomials)
    pk_struct = (
        FIELD_BYTES * n * (3 * extension + (2 + extension) * (fixed + equality))
        + vk_bytes
        + 36
        + 24 * (fixed + equality)
    )
    return {
        "logrows": k,
        "n": n,
        "num_inner_cols": nic,
        "blocks": blocks,
        "advice_columns": advice,
        "instance_columns": instance,
        "constant_columns": const_cols,
        "table_columns": table_cols,
        "selector_columns": selector_cols,
        "fixed_columns": fixed,
        "equality_columns": equality,
        "selectors": num_selectors,
        "lookup_arguments": lookup_args,
        "permutation_chunks": perm_chunks,
        "degree": degree,
        "extension": extension,
        "vk_bytes": vk_bytes,
        "pk_struct_bytes": pk_struct,
        "instances": _instances(settings),
        "notes": notes,
    }


def features(cols: dict) -> dict:
    """The byte and work quantities the fitted constants multiply (see the module docstring)."""
    n, e, k = cols["n"], cols["extension"], cols["logrows"]
    fp = cols["fixed_columns"] + cols["equality_columns"]
    ext_cols = (
        cols["advice_columns"] + cols["instance_columns"] + 2 * cols["lookup_arguments"] + cols["permutation_chunks"]
    )
    coset = FIELD_BYTES * e * n  # one extended-domain polynomial
    return {
        "pk_struct": float(cols["pk_struct_bytes"]),
        "setup_heap": float(coset * (3 + fp)) if coset < MMAP_THRESHOLD_MAX else 0.0,
        "prove_ext": float(FIELD_BYTES * e * n * ext_cols),
        "work": e * n * k * (fp + ext_cols) / 1e9,
    }


MIN_LOGROWS = 6  # ezkl's smallest circuit
RESERVED_ROWS = BLINDING_FACTORS + TABLE_PAD


def overflow_logrows(settings: dict) -> int:
    """The logrows ezkl's "resources/col-overflow" calibration lays a circuit out at: the least that
    holds its public values and committed tensors (they cannot spill into more columns) and that each
    lookup or range-check table's range needs (ezkl keeps 2^k >= the range, the table then in one or
    two columns); the rows spill into more advice columns instead (`columns` replays that at any
    logrows). Never above the logrows the rows themselves take. Checked against ezkl 23.0.5 on the
    smoke study's layers and paper tiles (tests/integration/test_memory_fit.py)."""
    ra = settings["run_args"]
    floor = MIN_LOGROWS
    instances = _instances(settings)
    if instances:
        floor = max(floor, math.ceil(math.log2(instances + RESERVED_ROWS)))
    committed = [int(x) for x in (settings.get("module_sizes") or {}).get("polycommit") or []]
    if committed:
        floor = max(floor, math.ceil(math.log2(max(committed) + RESERVED_ROWS)))
    ranges = [tuple(r) for r in settings.get("required_range_checks") or []]
    if settings.get("required_lookups"):
        ranges.append(tuple(ra.get("lookup_range") or (0, 0)))
    for lo, hi in ranges:
        if hi - lo > 1:
            floor = max(floor, math.ceil(math.log2(int(hi) - int(lo))))
    return min(floor, int(ra["logrows"]))


def at_logrows(settings: dict, logrows: int) -> dict:
    """The same circuit's settings laid out at `logrows`: below the rows' own, the rows spill into more
    advice columns. ezkl's col-overflow calibration differs from its rows calibration in logrows alone, so
    any logrows from overflow_logrows up to the rows' own is the same circuit laid out otherwise."""
    return {**settings, "run_args": {**settings["run_args"], "logrows": logrows}}
