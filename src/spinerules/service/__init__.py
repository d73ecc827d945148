"""The CDS Hooks 2.0 service and the REST API (FastAPI on uvicorn).

``create_app(ServiceConfig(...))`` builds the application; ``spinerules serve`` runs it. The
wing sits above the API and the testing wing and below the command line; nothing imports
it, and importing ``spinerules.cli`` does not import it (FastAPI loads only when serving).
"""
