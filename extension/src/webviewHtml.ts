/**
 * The heap map page's HTML. Pure so the Chromium tests load exactly what VS Code shows.
 * Strict CSP: no network, scripts only with the nonce, styles only from the extension.
 */

export interface WebviewHtmlOptions {
  /** `webview.cspSource` (or `file:` in tests). */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

/** Escapes text for an HTML attribute value (the URIs come from VS Code, but still). */
export function escapeAttribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A random nonce of 32 alphanumeric characters. */
export function makeNonce(random: () => number = Math.random): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let nonce = "";
  for (let index = 0; index < 32; index++) nonce += alphabet.charAt(Math.floor(random() * alphabet.length));
  return nonce;
}

export function webviewHtml(options: WebviewHtmlOptions): string {
  const csp = [
    "default-src 'none'",
    `img-src ${options.cspSource} data:`,
    `style-src ${options.cspSource}`,
    `script-src 'nonce-${options.nonce}'`,
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttribute(options.styleUri)}">
<title>Heap map</title>
</head>
<body>
<script nonce="${escapeAttribute(options.nonce)}" src="${escapeAttribute(options.scriptUri)}"></script>
</body>
</html>
`;
}
