"""zkbench.engine.memory_fit.choose: which weighed layout is built, with and without a split's domain."""

from zkbench.engine.memory_fit import choose


def lay(logrows: int, peak: int, seconds: float) -> tuple[dict, dict]:
    return {"run_args": {"logrows": logrows}}, {"peak_rss_bytes": peak, "prove_seconds": seconds}


# (logrows, predicted peak, predicted prove seconds) of one circuit's layouts
LAID = [lay(10, 90, 3.0), lay(11, 60, 2.0), lay(12, 80, 1.0), lay(13, 120, 0.5)]


def test_without_a_domain_the_fastest_fitting_layout_is_built():
    assert choose(LAID, 100, None) == 2  # logrows 12: fits, faster than 10 and 11; 13 does not fit
    assert choose(LAID, 70, None) == 1
    assert choose(LAID, 10, None) == 1  # none fits: the smallest peak (admission then skips it)
    assert choose([], 100, None) is None


def test_a_part_is_laid_out_at_the_split_s_domain_when_a_layout_fits_there():
    assert choose(LAID, 100, 11) == 1  # at the domain, though logrows 12 would prove faster


def test_one_fitting_only_above_the_domain_raises_it_never_one_below():
    # at 11 nothing fits; 10 fits, fastest, but would be raised to 11 (weighed there as the rows raised)
    laid = [lay(10, 50, 0.5), lay(11, 130, 2.0), lay(12, 80, 1.0)]
    assert choose(laid, 100, 11) == 2
    # nothing at or above the domain fits: the fallback's choice, which admission skips at the domain
    assert choose([lay(10, 50, 3.0), lay(11, 130, 2.0)], 100, 11) == 0
