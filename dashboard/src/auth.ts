// The read token: musterd started with --read-token answers every read, the
// watch included, with 401 until the request carries
// "Authorization: Bearer <token>". The dashboard asks for the token once,
// keeps it in localStorage and sends it on every API fetch (see store.ts).

/** The localStorage key holding the token. */
export const TOKEN_KEY = "muster-read-token";

/** Where the token is kept between visits. */
export interface TokenStore {
  load(): string | null;
  save(token: string): void;
  clear(): void;
}

type StorageLike = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/**
 * localTokenStore keeps the token in localStorage. Storage that is missing or
 * refuses (disabled, private mode, quota) is treated as empty: the token then
 * lasts as long as the page.
 */
export function localTokenStore(storage: StorageLike | undefined = defaultStorage(), key = TOKEN_KEY): TokenStore {
  return {
    load() {
      try {
        return normalizeToken(storage?.getItem(key) ?? "") || null;
      } catch {
        return null;
      }
    },
    save(token) {
      try {
        storage?.setItem(key, token);
      } catch {
        // not kept: asked again on the next visit
      }
    },
    clear() {
      try {
        storage?.removeItem(key);
      } catch {
        // nothing to forget
      }
    },
  };
}

function defaultStorage(): StorageLike | undefined {
  try {
    return typeof localStorage === "undefined" ? undefined : localStorage;
  } catch {
    return undefined; // reading localStorage itself can throw when it is disabled
  }
}

/** normalizeToken trims what was typed or pasted, and a leading "Bearer ". */
export function normalizeToken(input: string): string {
  return input.trim().replace(/^bearer\s+/i, "").trim();
}

/** withBearer adds "Authorization: Bearer <token>" to a fetch's headers (none without a token). */
export function withBearer(init: RequestInit = {}, token: string | null): RequestInit {
  if (!token) return init;
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return { ...init, headers };
}

/**
 * errorMessage reads the reason from an error answer: the REST facade's
 * {"message": ...} or a stream's {"error": {"message": ...}}; "" when there is none.
 */
export async function errorMessage(resp: Response): Promise<string> {
  try {
    const body = (await resp.json()) as { message?: unknown; error?: { message?: unknown } };
    const msg = body.message ?? body.error?.message;
    return typeof msg === "string" ? msg : "";
  } catch {
    return "";
  }
}
