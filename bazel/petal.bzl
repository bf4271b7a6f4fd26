"""Bazel macros of the project: one binary or test per backend from the same sources."""

# Link-time targets, one per backend (see //:BUILD).
BACKENDS = ["uv"]

def conformance_suite(backend, factory, instance, deps = [], **kwargs):
    """The conformance suite (//tests:conformance_lib), run for one backend and mode.

    factory: the source that makes a test loop (owned, or attached to a host
    loop), implementing tests/conformance.h. Usable from any package.
    """
    native.cc_test(
        name = "conformance_" + instance,
        srcs = [factory],
        copts = ['-DCONFORMANCE_INSTANCE=\\"%s\\"' % instance],
        deps = ["//tests:conformance_lib", "//:petal_" + backend] + deps,
        **kwargs
    )

def per_backend_test(name, srcs, deps = [], backends = BACKENDS, **kwargs):
    """The same test sources built and run against each link-time target: name_<backend>."""
    for b in backends:
        native.cc_test(
            name = name + "_" + b,
            srcs = srcs,
            deps = ["//:petal_" + b] + deps,
            linkopts = ["-lcmocka", "-lpthread", "-lm"],
            **kwargs
        )
