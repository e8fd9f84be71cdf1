"""The dataset description for open-data portals: DCAT-AP.de as JSON-LD, with the fields
DCAT-AP.de 3.0 makes mandatory (dataset: title, description, publisher; distribution:
accessURL, license) and the recommended ones we know (docs/references.md §R.G). The licence's
attribution text goes into ``dcatde:licenseAttributionByText`` as GovData's conventions ask."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog
from .timefmt import iso_ms

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dcatap": "http://data.europa.eu/r5r/",
    "dcatde": "http://dcat-ap.de/def/dcatde/",
    "dcterms": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
}


def dataset(catalog: Catalog, first_ms: int | None, last_ms: int | None, modified_ms: int | None) -> dict[str, Any]:
    cfg = catalog.cfg
    ds, lic, base = cfg.dataset, cfg.licence, cfg.public_url
    attribution = lic.attribution(catalog.dataset_uri)

    def dist(title: str, path: str, fmt: str, media: str) -> dict[str, Any]:
        d: dict[str, Any] = {
            "@type": "dcat:Distribution",
            "dcterms:title": title,
            "dcat:accessURL": {"@id": f"{base}{path}"},
            "dcat:downloadURL": {"@id": f"{base}{path}"},
            "dcterms:license": {"@id": lic.dcat_uri},
            "dcatde:licenseAttributionByText": attribution,
            "dcterms:format": {"@id": f"http://publications.europa.eu/resource/authority/file-type/{fmt}"},
            "dcat:mediaType": media,
        }
        if modified_ms is not None:
            d["dcterms:modified"] = {"@value": iso_ms(modified_ms), "@type": "xsd:dateTime"}
        return d

    doc: dict[str, Any] = {
        "@context": {**CONTEXT, "xsd": "http://www.w3.org/2001/XMLSchema#"},
        "@id": catalog.dataset_uri,
        "@type": "dcat:Dataset",
        "dcterms:title": [{"@value": ds.title, "@language": "de"}, {"@value": ds.title_en, "@language": "en"}],
        "dcterms:description": [{"@value": ds.description, "@language": "de"},
                                {"@value": ds.description_en, "@language": "en"}],
        "dcterms:publisher": {"@type": "foaf:Agent", "foaf:name": ds.publisher},
        "dcat:keyword": ds.keywords,
        "dcat:theme": [{"@id": "http://publications.europa.eu/resource/authority/data-theme/ENVI"}],
        "dcat:landingPage": {"@id": f"{base}/de/data"},
        "dcat:distribution": [
            dist("Alle öffentlichen Knoten, CSV", "/api/v1/observations.csv", "CSV", "text/csv"),
            dist("Alle öffentlichen Knoten, SenML JSON", "/api/v1/observations.senml.json", "JSON",
                 "application/senml+json"),
        ],
    }
    if first_ms is not None and last_ms is not None:
        doc["dcterms:temporal"] = {"@type": "dcterms:PeriodOfTime",
                                   "dcat:startDate": {"@value": iso_ms(first_ms), "@type": "xsd:dateTime"},
                                   "dcat:endDate": {"@value": iso_ms(last_ms), "@type": "xsd:dateTime"}}
    if ds.contact_email:
        doc["dcat:contactPoint"] = {"@type": "vcard:Organization", "vcard:fn": ds.publisher,
                                    "vcard:hasEmail": {"@id": f"mailto:{ds.contact_email}"}}
    if ds.political_geocoding_uri:
        doc["dcatde:politicalGeocodingURI"] = {"@id": ds.political_geocoding_uri}
    if ds.contributor_id:
        doc["dcatde:contributorID"] = {"@id": f"http://dcat-ap.de/def/contributors/{ds.contributor_id}"}
    return doc
