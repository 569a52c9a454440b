/** Where the API's routes live; the links it answers with (Location, statusUrl) are built on it. */
export const API_PREFIX = '/api/v1';
