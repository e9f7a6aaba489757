"""The HTTP toolkit: responses and CORS, the MLS error envelope, body decoding, client IP, OpenAPI,
logging, middleware and the metrics registry. Imports no feature."""
