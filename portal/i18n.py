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

# the technicians' fleet view (portal/fleet/pages.py)
FLEET_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "fleet": "Flotte", "login": "Anmelden", "logout": "Abmelden", "account": "Konto", "password": "Passwort",
        "login_title": "Anmeldung für die Flottenansicht", "login_failed": "Konto oder Passwort falsch.",
        "login_limited": "Zu viele Fehlversuche. Bitte später erneut versuchen.",
        "login_bad": "Die Anmeldung konnte nicht gelesen werden. Bitte erneut versuchen.",
        "signed_in": "Angemeldet als", "attention": "Braucht einen Besuch", "all": "Alle Knoten",
        "nothing": "Alle Knoten melden sich und keine Batterie fällt schnell.",
        "silent": "still", "silent_long": "still seit mehr als {n} Intervallen ({p})",
        "battery_fast": "Batterie fällt schnell", "battery_fast_long": "Batterie fällt um {r} V/Tag",
        "public": "öffentlich", "private": "nicht öffentlich", "visibility": "Sichtbarkeit",
        "battery": "Batterie", "trend": "Trend", "per_day": "V/Tag", "link": "Funk (bestes Gateway)",
        "loss": "Paketverlust", "loss_total": "gesamt", "loss_24h": "24 h", "firmware": "Firmware",
        "interval": "Intervall", "config_errors": "Konfigurationsfehler", "sensor_failures": "Sensorausfälle",
        "sensor_errors": "Sensorfehler (Zähler)", "invalid": "ungültige Werte", "none": "keine",
        "history": "Verlauf (7 Tage)", "source": "Quelle", "command": "Befehl", "value": "Wert",
        "send": "Senden", "commands": "Befehle", "status": "Status", "sent_at": "gesendet", "by": "von",
        "result": "Ergebnis", "no_commands": "Noch keine Befehle.",
        "battery_hourly": "Batteriespannung (Stundenmittel)",
        "lost_of": "{lost} von {n} Rahmen verloren", "node_answer": "Antwort des Knotens",
        "back": "zur Flotte", "status_frame": "Statusrahmen", "meta": "Metadaten", "node": "Knoten",
        "period": "Meldeperiode", "reason": "Grund", "status_as_of": "letzter Statusrahmen",
        "cmd_set_interval_s": "Intervall setzen (s)", "cmd_set_confirmed_every": "jede n-te Nachricht bestätigt",
        "cmd_request_status": "Status anfordern", "cmd_announce_layout": "Layout ankündigen", "cmd_reboot": "Neustart",
        "st_published": "veröffentlicht", "st_not_sent": "nicht gesendet (keine Broker-Verbindung)",
        "st_queued": "in der Warteschlange", "st_sent": "gesendet", "st_acked": "bestätigt",
        "st_failed": "fehlgeschlagen", "st_rejected": "abgelehnt",
    },
    "en": {
        "fleet": "Fleet", "login": "Log in", "logout": "Log out", "account": "Account", "password": "Password",
        "login_title": "Log in to the fleet view", "login_failed": "Wrong account or password.",
        "login_limited": "Too many failed attempts. Please try again later.",
        "login_bad": "The login could not be read. Please try again.",
        "signed_in": "Signed in as", "attention": "Needs a visit", "all": "All nodes",
        "nothing": "Every node reports and no battery falls fast.",
        "silent": "silent", "silent_long": "silent for more than {n} intervals ({p})",
        "battery_fast": "battery falls fast", "battery_fast_long": "battery falls by {r} V/day",
        "public": "public", "private": "not public", "visibility": "Visibility",
        "battery": "Battery", "trend": "Trend", "per_day": "V/day", "link": "Radio (best gateway)",
        "loss": "Packet loss", "loss_total": "total", "loss_24h": "24 h", "firmware": "Firmware",
        "interval": "Interval", "config_errors": "Configuration errors", "sensor_failures": "Sensor failures",
        "sensor_errors": "Sensor errors (counters)", "invalid": "invalid values", "none": "none",
        "history": "History (7 days)", "source": "Source", "command": "Command", "value": "Value",
        "send": "Send", "commands": "Commands", "status": "Status", "sent_at": "sent", "by": "by",
        "result": "Result", "no_commands": "No commands yet.", "battery_hourly": "Battery voltage (hourly mean)",
        "lost_of": "{lost} of {n} frames lost", "node_answer": "the node's answer",
        "back": "back to the fleet", "status_frame": "status frame", "meta": "metadata", "node": "Node",
        "period": "Uplink period", "reason": "Reason", "status_as_of": "latest status frame",
        "cmd_set_interval_s": "set interval (s)", "cmd_set_confirmed_every": "confirm every n-th uplink",
        "cmd_request_status": "request status", "cmd_announce_layout": "announce layout", "cmd_reboot": "reboot",
        "st_published": "published", "st_not_sent": "not sent (no broker connection)",
        "st_queued": "queued", "st_sent": "sent", "st_acked": "acknowledged",
        "st_failed": "failed", "st_rejected": "rejected",
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
