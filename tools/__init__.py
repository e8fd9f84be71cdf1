"""trosmart_tools: the ``trosmart`` command line and the virtual lab (installed from tools/)."""
