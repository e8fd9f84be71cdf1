"""TroSmart portal: consumes the city topic API v1 (SenML + meta), stores time series with
rollups (SQLite or PostgreSQL), and serves the citizens' map, charts and open-data downloads.

It reads SenML and ``meta`` only; it never knows frame layouts or network-server formats.
"""
