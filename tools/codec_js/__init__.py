"""The TS013 JavaScript codec generated from payload_codec (docs/interop.md).

``generate.render()`` builds index.js from the registry and template.js;
``package.export()`` writes the whole codec package; ``reference`` is the Python
side of every TS013 call, which the JavaScript must equal; ``node.NodeCodec`` runs
the generated file under node for tests and the corpus runner.
"""
