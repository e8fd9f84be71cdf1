"""The pages' words in German and English (German first: the city's language)."""

from __future__ import annotations

LANGS = ("de", "en")

TEXT: dict[str, dict[str, str]] = {
    "de": {
        "title": "TroSmart – Sensordaten Troisdorf", "map": "Karte", "data": "Offene Daten",
        "switch": "English", "quantity": "Messgröße", "nodes": "Sensorknoten", "node": "Knoten",
        "name": "Name", "value": "Wert", "last_seen": "Zuletzt gesehen", "no_value": "—",
        "latest": "Aktuelle Werte", "charts": "Verläufe", "range": "Zeitraum", "time": "Zeit",
        "mean": "Mittel", "min": "Min", "max": "Max", "count": "Anzahl", "downloads": "Downloads",
        "owner": "Betreiber", "private": "privat (Bürgerinnen und Bürger)", "position": "Position",
        "grid": "auf ca. 100 m gerundet", "exact": "genau", "none": "unbekannt",
        "values_table": "Werte als Tabelle", "all_data": "alle Daten", "this_range": "dieser Zeitraum",
        "licence": "Lizenz", "attribution": "Quellenvermerk", "dataset": "Datensatzbeschreibung (DCAT-AP.de)",
        "columns": "Spalten", "live": "live", "offline": "keine Live-Verbindung", "back": "zur Karte",
        "r24h": "24 Stunden", "r7d": "7 Tage", "r30d": "30 Tage", "r1y": "1 Jahr", "skip": "zum Inhalt",
        "all_nodes": "Alle öffentlichen Knoten", "per_node": "Pro Knoten und Messgröße: auf der Seite des Knotens.",
        "no_nodes": "Noch keine öffentlichen Knoten.", "api": "JSON-API",
        "legend": "Farbe: niedrig → hoch",
    },
    "en": {
        "title": "TroSmart – sensor data Troisdorf", "map": "Map", "data": "Open data",
        "switch": "Deutsch", "quantity": "Quantity", "nodes": "Sensor nodes", "node": "Node",
        "name": "Name", "value": "Value", "last_seen": "Last seen", "no_value": "—",
        "latest": "Latest values", "charts": "Charts", "range": "Range", "time": "Time",
        "mean": "Mean", "min": "Min", "max": "Max", "count": "Count", "downloads": "Downloads",
        "owner": "Operator", "private": "private (citizens)", "position": "Position",
        "grid": "rounded to about 100 m", "exact": "exact", "none": "unknown",
        "values_table": "Values as a table", "all_data": "all data", "this_range": "this range",
        "licence": "Licence", "attribution": "Attribution", "dataset": "Dataset description (DCAT-AP.de)",
        "columns": "Columns", "live": "live", "offline": "no live connection", "back": "back to the map",
        "r24h": "24 hours", "r7d": "7 days", "r30d": "30 days", "r1y": "1 year", "skip": "skip to content",
        "all_nodes": "All public nodes", "per_node": "Per node and quantity: on the node's page.",
        "no_nodes": "No public nodes yet.", "api": "JSON API",
        "legend": "Colour: low → high",
    },
}

QUANTITY_NAMES: dict[str, dict[str, str]] = {
    "temperature": {"de": "Temperatur", "en": "Temperature"},
    "humidity": {"de": "Luftfeuchte", "en": "Humidity"},
    "pressure": {"de": "Luftdruck", "en": "Pressure"},
    "pm2_5": {"de": "Feinstaub PM2,5", "en": "Particulates PM2.5"},
    "pm10": {"de": "Feinstaub PM10", "en": "Particulates PM10"},
    "battery_voltage": {"de": "Batteriespannung", "en": "Battery voltage"},
    "water_level": {"de": "Wasserstand", "en": "Water level"},
    "water_temperature": {"de": "Wassertemperatur", "en": "Water temperature"},
    "occupancy": {"de": "Belegt", "en": "Occupied"},
    "co2": {"de": "CO₂", "en": "CO₂"},
}


UNIT_LABELS = {"Cel": "°C", "%RH": "% rF", "ug/m3": "µg/m³", "kg/m3": "kg/m³", "m3": "m³", "/": "", "%EL": "%"}
UNIT_LABELS_EN = {**UNIT_LABELS, "%RH": "% RH"}


def unit_label(unit: str, lang: str) -> str:
    """How a SenML unit reads on a page (downloads keep the SenML symbol)."""
    return (UNIT_LABELS if lang == "de" else UNIT_LABELS_EN).get(unit, unit)


def quantity_name(q: str, lang: str) -> str:
    return QUANTITY_NAMES.get(q, {}).get(lang, q)
