"""The benchmark scripts' shared tools, kept in the package (jaxcollapse.bench)
so that `jaxcollapse bench` has them too."""

from jaxcollapse.bench.meter import (  # noqa: F401
    CompileClock,
    Meter,
    machine_info,
    markdown_table,
    si,
    source_state,
    verdict,
)
