// Shared state of the running app: the signed-in user and the public configuration.
export const state = {
  user: null,
  config: {
    demo_quick_access: false,
    registration_domains: [],
    max_message_chars: 8000,
    self_service_2fa_domains: [],
    password_change_domains: [],
  },
};

export function isStaff(user = state.user) {
  return Boolean(user) && (user.role === "admin" || user.role === "supervisor");
}

export function emailDomain(email) {
  return String(email || "").split("@").pop().toLowerCase();
}
