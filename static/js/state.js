// @ts-check
// Shared state of the running app: the signed-in user and the public configuration.

/** @typedef {"admin" | "supervisor" | "trabajador"} Role */

/**
 * The signed-in user (`GET /auth/me`, `UserOut`).
 * @typedef {object} User
 * @property {string} id
 * @property {string} email
 * @property {string} full_name
 * @property {Role} role
 * @property {boolean} totp_enabled
 * @property {boolean} [can_change_password]
 * @property {boolean} [can_setup_2fa]
 * @property {string} created_at
 * @property {string} [last_active_at]
 */

/**
 * What the login screen and the composer need before anyone signs in (`GET /config/public`).
 * @typedef {object} PublicConfig
 * @property {boolean} demo_quick_access
 * @property {string[]} registration_domains
 * @property {number} max_message_chars
 * @property {string[]} self_service_2fa_domains
 * @property {string[]} password_change_domains
 * @property {boolean} mail_enabled the server emails links (password reset, address verification)
 * @property {number} temporary_chat_hours a temporary chat is deleted this long after its last message
 */

/** @type {{ user: User | null, config: PublicConfig }} */
export const state = {
  user: null,
  config: {
    demo_quick_access: false,
    registration_domains: [],
    max_message_chars: 8000,
    self_service_2fa_domains: [],
    password_change_domains: [],
    mail_enabled: false,
    temporary_chat_hours: 24,
  },
};

/**
 * The signed-in user, for the screens the router shows only to one.
 * @returns {User}
 */
export function signedInUser() {
  if (!state.user) throw new Error("no user is signed in");
  return state.user;
}

/** @param {User | null} [user] */
export function isStaff(user = state.user) {
  return user?.role === "admin" || user?.role === "supervisor";
}

/** @param {string | null | undefined} email */
export function emailDomain(email) {
  const text = String(email || "");
  return text.slice(text.lastIndexOf("@") + 1).toLowerCase();
}
