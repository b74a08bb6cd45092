// The protected index page: shows who is signed in (GET /user) and logs out (POST /logout).
"use strict";

(function () {
  // The login form posts to /login, which answers this page (the course's 200): show the
  // page's own address, so a reload does not post the form again.
  if (location.pathname === "/login") history.replaceState(null, "", "/");

  const nameEl = document.getElementById("user-name");
  const avatarEl = document.getElementById("user-avatar");
  const statusEl = document.getElementById("user-status");
  const errorEl = document.getElementById("user-error");

  function showError(message) {
    nameEl.textContent = "Unknown";
    statusEl.textContent = "not signed in";
    errorEl.textContent = message;
    errorEl.hidden = false;
  }

  async function loadUser() {
    try {
      const response = await fetch("/user", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (response.status === 401) {
        showError("Your session has ended. Sign in again.");
        return;
      }
      if (!response.ok) {
        showError("Could not load your account (HTTP " + response.status + ").");
        return;
      }
      const user = await response.json();
      // The user's name field: "username" per the API, older shapes tolerated.
      const name = String(user.username ?? user.user ?? user.name ?? "");
      nameEl.textContent = name || "Unnamed user";
      avatarEl.textContent = name ? name.charAt(0) : "?";
      statusEl.textContent = "session active";
      // Explain the mode the server guards this page with.
      const mode = document.getElementById("mode-" + user.auth_mode);
      if (mode) mode.hidden = false;
    } catch (err) {
      showError("Could not reach the server: " + err.message);
    }
  }

  async function logOut(event) {
    event.preventDefault();
    const button = document.getElementById("logout");
    button.disabled = true;
    try {
      await fetch("/logout", { method: "POST", credentials: "same-origin" });
    } catch (err) {
      // Unreachable server: the session may live on, but the sign-in page is still the way forward.
      console.warn("logout request failed:", err);
    }
    // replace() so Back does not return to the protected page.
    window.location.replace("/login?logged-out");
  }

  document.getElementById("logout-form").addEventListener("submit", logOut);
  loadUser();
})();
