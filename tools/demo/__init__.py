"""``trosmart demo``: three virtual nodes, the simulated network server, a broker and the bridge, live."""
