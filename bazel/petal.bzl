"""Bazel macros of the project: one binary or test per backend from the same sources."""

# Link-time targets, one per backend (see //:BUILD).
BACKENDS = ["uv", "ev", "event", "uring"]

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

def per_backend_binary(name, srcs, deps = [], backends = BACKENDS, **kwargs):
    """One program from the same sources per link-time target: name_<backend>.

    Returns the list of labels built.
    """
    labels = []
    for b in backends:
        native.cc_binary(
            name = name + "_" + b,
            srcs = srcs,
            deps = ["//:petal_" + b] + deps,
            **kwargs
        )
        labels.append(":" + name + "_" + b)
    return labels

def same_output_test(name, binaries, **kwargs):
    """Runs every binary and fails unless all print exactly the same output."""
    native.sh_test(
        name = name,
        srcs = ["//bazel:same_output.sh"],
        args = ["$(location %s)" % b for b in binaries],
        data = binaries,
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
