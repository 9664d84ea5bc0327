"""Predict proving-key size, peak memory and proving time of an EZKL circuit from its settings.json.

No ezkl call and nothing is built: the prediction is made before SRS, setup or prove, from the
settings that calibration writes (run_args.logrows and num_inner_cols, num_rows, total_assignments,
total_const_size, required_lookups, required_range_checks, shuffles / dynamic lookups, einsum
parameters, instance shapes).

    zkbench predict fit RESULTS_DIR... --cache-dir CACHE_DIR... --out zkbench/resources/predict/ezkl-23.json
    zkbench predict check RESULTS_DIR... --cache-dir CACHE_DIR...
    zkbench predict show SETTINGS_JSON [--threads N]

The model
=========
1. Columns (exact, no fitted constant). The circuit layout of ezkl 23 (ModelVars::new,
   Model::configure, BaseConfig::configure*, Table/RangeCheck::configure) is replayed from the
   settings, with n = 2^k rows and a column holding n - blinding - 1 usable rows (5 blinding
   factors):
     advice   A = 3 * nic * blocks                 (+ 3 single advice columns per block when the
                                                    circuit has shuffles or dynamic lookups)
                 (+ 6 * nic * blocks for Freivalds einsums)
     instance I = 1                                 (one instance column, always created)
     constant K = ceil-ish(total_const_size / usable rows)   (fixed, equality-enabled)
     tables   T = per range check: ceil(range / (n - 8)) input columns; per lookup op: that many
                  output columns, input columns shared between lookup ops
     complex selectors X = nic * blocks per range check, per lookup op and per shuffle/dynamic
                  lookup (+1 per table block) -- each becomes its own fixed column
     simple selectors: 3 * nic + 6 per block (Add, Sub, Mult per inner column; Dot, DotInit,
                  CumProd(Init), Sum(Init) per block), compressed by halo2's selector compression
                  into S fixed columns (replayed greedily, all selectors assumed exclusive;
                  S = 6 for nic = 4)
     fixed columns F = K + T + X + S;  equality (permutation) columns P = A + I + K
   The constraint degree d is the largest of: the CumProd gate (nic + 2), a static lookup
   (table columns + 4), a shuffle / dynamic lookup (6), the permutation (3). The extended
   (quotient) domain is e = next_pow2(d - 1) times larger than n (e = 8 for nic = 4).
   With 32-byte field elements, halo2's serialized proving key holds, per fixed and per permutation
   column, the values (n), the coefficients (n) and the extended coset (e*n), plus three
   extended-domain Lagrange polynomials (l0, l_last, l_active_row):
       pk_struct = 32 * n * (3e + (2 + e) * (F + P)) + vk_bytes + 36 + 24 * (F + P)
       vk_bytes  = 7 + 64 * (F + P) + (number of selectors) * n / 8
   e.g. nic 4, two range checks, no lookup: F + P = 31, e = 8 -> pk = 32 * n * 334 (21.9 MB at
   k = 11, 5.6 GB at k = 19).

2. Fitted constants (fit() from measured runs; the points and constants live in
   predict/<backend>.json, and predict() reads the constants from there). Fitted by non-negative least
   squares of the relative error; values as shipped (47 points, k 10-17, ezkl 23.0.5, x86 CPU;
   ezkl-23.json's "provenance" gives the commands that measured them: the 40 smoke
   experiments and the 7 `measure` points):
       pk_bytes             = pk_scale * pk_struct + pk_offset
                              pk_scale = 1.0, pk_offset = 0: the structure above is exact
       setup_peak_rss_bytes = setup_base + setup_per_pk * pk + setup_heap * H
                              setup_base ~ 25 MB: the fresh stage child (python + ezkl, ~17 MiB)
                                and keygen's fixed part
                              setup_per_pk ~ 1.19 (fitted as 1 + a non-negative excess: keygen
                                holds the whole key plus its Lagrange assembly and permutation
                                mapping)
                              setup_heap ~ 0.33, H = 32 * e * n * (3 + F + P) while one extended
                                polynomial (32 * e * n bytes) is under 32 MiB, else 0: transient
                                extended-domain copies that the allocator keeps on its heap below
                                glibc's mmap threshold ceiling (32 MiB); from there on (k >= 17 at
                                e = 8) they are mmapped and handed back when freed. Measured: setup
                                ~1.47 x pk up to k = 16, ~1.19 x pk at k = 17.
       prove_peak_rss_bytes = prove_base + prove_per_pk * pk + prove_per_ext * W
                              W = 32 * e * n * (A + I + 2 * L + C): the prover evaluates the
                                quotient on the extended domain, holding a coset of every advice
                                and instance column, the two logUp polynomials (multiplicities,
                                running sum) of each of the L lookup arguments (after halo2's
                                chunking) and the C = ceil(P / (d - 2)) permutation product
                                chunks, on top of the loaded key
                              prove_base ~ 27 MB, prove_per_pk ~ 0.97, prove_per_ext ~ 2.0
       prove_seconds        = time_base + time_per_unit * U * (1 - p + p / threads)
                              U = e * n * k * (F + P + A + I + 2 * L + C) / 1e9: FFT work
                                (n log n) over every polynomial moved to the extended domain
                              time_base ~ 0.26 s, time_per_unit ~ 62 s per unit (one thread)
                              p = parallel_fraction (Amdahl), from the same circuit proved with 1
                                and 2 threads, capped at 0.99: the shipped pair (Dense at k = 16)
                                proved in 32.0 s on 1 and 15.7 s on 2 threads, so it is 0.99;
                                the single-thread constants come from 1-thread runs, the smoke
                                ones two at a time on a 2-core machine: time is the noisiest part.
   Held out (`check --cv 5`: each circuit predicted by constants fitted without it), max |error|:
   pk 0 %; setup peak 3.1 % (k 10-12), 3.8 % (13-14), 15.6 % (15-17); prove peak 2.2 %, 1.9 %,
   1.7 %; prove time 15.6 %, 6.9 %, 25.8 %. Fitted on k <= 15 and checked on k 16-17: setup
   15.6 %, prove peak 1.7 %, time 26 %.
   The memory terms are bytes that grow as 2^k times the columns of the circuit, so they carry to
   paper sizes (k ~ 24) as long as the layout does (same nic, one block, a table in one column:
   what calibration picks). Not modelled exactly (flagged in "notes"): Freivalds einsum columns
   and the Poseidon module of hashed visibilities.
"""
