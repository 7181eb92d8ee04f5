/**
 * CORS for the endpoints any web page may call with a key (a bot's chat and feedback, the Copilot): every origin,
 * the bearer header and JSON bodies; preflights are answered before authentication by the routes' public hooks.
 */
export const CHAT_CORS = {
  'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization, content-type', 'access-control-allow-methods': 'POST, OPTIONS', 'access-control-max-age': '600',
} as const;
