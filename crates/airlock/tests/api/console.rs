//! The web console on a real server and database: sessions, CSRF, the permission
//! matrix, tenant isolation on every route, keys that the relay obeys, and the
//! audit chain.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::HttpServer;
use airlock_console::session::SessionKeys;
use airlock_console::{ConsoleSecrets, ConsoleSettings, ConsoleState};
use airlock_core::role::Role;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, PASSWORD, TestApp, TestDb, audit_key, secrets, user_by_email};

/// A console server on a random port.
pub(super) struct Console {
    pub(super) url: String,
}

pub(super) async fn spawn_console(db: &DatabaseConnection) -> Console {
    spawn_console_with_mail(db, None).await
}

/// A console that sends its mail through `mailer`.
pub(super) async fn spawn_console_with_mail(
    db: &DatabaseConnection,
    mailer: Option<airlock_console::mail::Mailer>,
) -> Console {
    spawn_console_with(
        db,
        mailer,
        ConsoleSettings {
            // The tests' upstreams listen on loopback.
            egress: airlock_core::egress::EgressPolicy::parse(["127.0.0.0/8"], false).unwrap(),
            relay_public_url: Some("https://relay.acme.test/".into()),
            ..ConsoleSettings::default()
        },
    )
    .await
}

/// A console with settings of the test's choosing.
pub(super) async fn spawn_console_with(
    db: &DatabaseConnection,
    mailer: Option<airlock_console::mail::Mailer>,
    settings: ConsoleSettings,
) -> Console {
    let sessions = SessionKeys::new(&SecretString::from(JWT_SECRET.to_owned())).unwrap();
    let (hasher, master_keys) = secrets();
    let secrets = ConsoleSecrets {
        hasher,
        sessions,
        master_keys,
        audit_key: audit_key(),
    };
    let state: Arc<ConsoleState> = ConsoleState::new(db.clone(), secrets, mailer, settings)
        .await
        .unwrap();
    let server = HttpServer::new(move || airlock_console::web::app(state.clone()))
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    Console { url }
}

/// A browser: keeps cookies, does not follow redirects, reads CSRF tokens from pages.
pub(super) struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
    /// The CSRF token of the last page that carried one.
    pub(super) csrf: String,
}

pub(super) struct Page {
    pub(super) status: StatusCode,
    pub(super) location: Option<String>,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) body: String,
}

impl Browser {
    pub(super) fn new(console: &Console) -> Browser {
        Browser {
            base: console.url.clone(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        if let Some(start) = body.find(r#"name="csrf" value=""#) {
            let rest = &body[start + 19..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
        }
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    pub(super) async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// Posts a form with the current CSRF token added.
    pub(super) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        let csrf = self.csrf.clone();
        form.push(("csrf", &csrf));
        self.post_raw(path, &form).await
    }

    async fn post_raw(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// Signs up and opens the confirmation link (shown on the page: the tests'
    /// consoles send no mail). Returns the sign-up's answer.
    /// Where a form's answer sends the browser (a 303), opened; any other answer
    /// as it is.
    pub(super) async fn follow(&mut self, page: Page) -> Page {
        match page.location.clone() {
            Some(location) if page.status == 303 => self.get(&location).await,
            _ => page,
        }
    }

    pub(super) async fn sign_up(&mut self, email: &str) -> Page {
        let page = self.sign_up_unconfirmed(email).await;
        if let Some(link) = shown_link(&page) {
            let confirmed = self.get(&link).await;
            assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        }
        page
    }

    pub(super) async fn sign_up_unconfirmed(&mut self, email: &str) -> Page {
        self.get("/signup").await;
        self.post(
            "/signup",
            &[
                ("email", email),
                ("name", "Test User"),
                ("password", PASSWORD),
            ],
        )
        .await
    }

    pub(super) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.get("/signin").await;
        self.post("/signin", &[("email", email), ("password", password)])
            .await
    }

    fn session(&self) -> Option<&String> {
        self.cookies.get("airlock_session")
    }

    /// The session cookie's value (the browser must be signed in).
    pub(super) fn session_cookie(&self) -> String {
        self.session().cloned().unwrap_or_default()
    }
}

/// The path of the link a page shows in place of a mail (`id="shown-link"`).
pub(super) fn shown_link(page: &Page) -> Option<String> {
    let start = page.body.find(r#"id="shown-link" href=""#)? + 22;
    let rest = &page.body[start..];
    let url = &rest[..rest.find('"')?];
    let path = url
        .find("/verify/")
        .or_else(|| url.find("/reset/"))
        .or_else(|| url.find("/invite/"))?;
    Some(url[path..].to_owned())
}

/// The full key shown once on the "key created" page.
pub(super) fn shown_key(page: &Page) -> String {
    let start = page.body.find(r#"<code id="new-key">"#).unwrap() + 19;
    let rest = &page.body[start..];
    rest[..rest.find('<').unwrap()].to_owned()
}

/// The id of the first key row's revoke form.
pub(super) fn key_ids(page: &Page) -> Vec<String> {
    page.body
        .match_indices("action=\"/t/")
        .filter_map(|(i, _)| {
            let value = &page.body[i + 8..];
            let value = &value[..value.find('"')?];
            let rest = &value[value.find("/keys/")? + 6..];
            let (id, action) = rest.split_once('/')?;
            matches!(action, "revoke" | "rotate").then(|| id.to_owned())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[actix_web::test]
async fn sign_up_create_a_tenant_and_sign_out_everywhere() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut browser = Browser::new(&console);

    let page = browser.get("/").await;
    assert_eq!(page.location.as_deref(), Some("/signin"));
    // Sign-up makes the account and shows the link that proves the address; until
    // it is opened, the account may not create a tenant.
    let page = browser.sign_up_unconfirmed("new.admin@example.com").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Confirm your address"), "{}", page.body);
    let link = shown_link(&page).unwrap();
    let unconfirmed = browser.get("/tenants").await;
    assert!(unconfirmed.body.contains("Confirm your email address"));
    let refused = browser
        .post("/tenants", &[("name", "Early"), ("slug", "early")])
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("confirm your email address"),
        "{}",
        refused.body
    );
    let confirmed = browser.get(&link).await;
    assert!(
        confirmed.body.contains("is confirmed"),
        "{}",
        confirmed.body
    );
    // The link works once.
    assert_eq!(browser.get(&link).await.status, 404);
    let page = browser.get("/tenants").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("not a member of any tenant yet"));
    assert!(page.body.contains("new.admin@example.com"));
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    // Inline validation keeps what was typed.
    let page = browser
        .post(
            "/tenants",
            &[("name", "Acme <b>Corp</b>"), ("slug", "No Spaces!")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("lowercase"), "{}", page.body);
    assert!(
        page.body.contains("Acme &#60;b&#62;Corp&#60;/b&#62;")
            || page.body.contains("Acme &lt;b&gt;")
    );
    let page = browser
        .post(
            "/tenants",
            &[("name", "Acme <b>Corp</b>"), ("slug", "acme")],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/t/acme/keys?done=tenant-created")
    );
    let page = browser.get("/t/acme/keys").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No dev keys yet"));
    // Tenant input is escaped, never markup.
    assert!(!page.body.contains("<b>Corp</b>"));

    // A second browser signed in as the same user.
    let mut other = Browser::new(&console);
    other.sign_in("new.admin@example.com", PASSWORD).await;
    assert_eq!(other.get("/tenants").await.status, 200);
    let stolen = browser.session().unwrap().clone();

    let page = browser.post("/signout", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/signin"));
    assert!(browser.session().is_none());
    // The copied token and the other browser's session are both dead.
    browser.cookies.insert("airlock_session".into(), stolen);
    assert_eq!(
        browser.get("/tenants").await.location.as_deref(),
        Some("/signin")
    );
    assert_eq!(
        other.get("/tenants").await.location.as_deref(),
        Some("/signin")
    );
}

#[actix_web::test]
async fn unknown_emails_and_wrong_passwords_get_the_same_answer_and_attempts_are_throttled() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut browser = Browser::new(&console);
    browser.sign_up("known@example.com").await;
    let mut fresh = Browser::new(&console);
    let wrong = fresh.sign_in("known@example.com", "not the password").await;
    let unknown = fresh
        .sign_in("nobody@example.com", "not the password")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let message = |page: &Page| {
        let start = page.body.find("role=\"alert\">").unwrap();
        page.body[start..page.body[start..].find("</p>").unwrap() + start].to_owned()
    };
    assert_eq!(message(&wrong), message(&unknown));
    // The account allows 5 attempts a minute; the 6th is refused even with the
    // right password.
    for _ in 0..4 {
        fresh.sign_in("known@example.com", "still wrong").await;
    }
    let throttled = fresh.sign_in("known@example.com", PASSWORD).await;
    assert_eq!(throttled.status, 429);
    assert!(fresh.session().is_none());
}

#[actix_web::test]
async fn state_changes_need_the_csrf_token() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut browser = Browser::new(&console);
    browser.sign_up("csrf@example.com").await;
    browser.get("/tenants").await;
    let missing = browser
        .post_raw("/tenants", &[("name", "X"), ("slug", "xx")])
        .await;
    assert_eq!(missing.status, 403);
    assert_eq!(missing.headers["x-airlock-error-code"], "csrf_failed");
    let wrong = browser
        .post_raw(
            "/tenants",
            &[("name", "X"), ("slug", "xx"), ("csrf", "00ff")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    // The header form htmx uses works.
    let response = browser
        .client
        .post(format!("{}/tenants", browser.base))
        .header("cookie", browser.cookie_header())
        .header("x-csrf-token", browser.csrf.clone())
        .form(&[("name", "X"), ("slug", "xx")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    // Sign-in without the pre-session cookie is refused too.
    let mut stranger = Browser::new(&console);
    let page = stranger
        .post_raw(
            "/signin",
            &[
                ("email", "csrf@example.com"),
                ("password", PASSWORD),
                ("csrf", "abc"),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
}

#[actix_web::test]
async fn forged_expired_and_other_algorithm_tokens_are_refused() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut browser = Browser::new(&console);
    browser.sign_up("jwt@example.com").await;
    let user = user_by_email(&db.conn, "jwt@example.com").await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64| json!({"sub": user.id, "sv": user.session_version, "jti": "abc", "iat": iat, "exp": exp});
    let sign = |alg: Algorithm, claims: &Value| {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let valid = sign(Algorithm::HS256, &claims(now, now + 600));
    let payload = valid.split('.').nth(1).unwrap().to_owned();
    let mut tampered_claims = claims(now, now + 600);
    tampered_claims["sv"] = json!(user.session_version + 7);
    let tampered = format!(
        "{}.{}.{}",
        valid.split('.').next().unwrap(),
        b64.encode(tampered_claims.to_string()),
        valid.split('.').nth(2).unwrap()
    );
    let cases = [
        ("valid", valid.clone(), true),
        (
            "expired",
            sign(Algorithm::HS256, &claims(now - 7200, now - 60)),
            false,
        ),
        (
            "HS512",
            sign(Algorithm::HS512, &claims(now, now + 600)),
            false,
        ),
        (
            "alg none",
            format!("{}.{payload}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#)),
            false,
        ),
        ("tampered", tampered, false),
        (
            "other secret",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims(now, now + 600),
                &EncodingKey::from_secret(b"some-other-secret-0123456789abcdef"),
            )
            .unwrap(),
            false,
        ),
    ];
    for (what, token, accepted) in cases {
        let mut visitor = Browser::new(&console);
        visitor.cookies.insert("airlock_session".into(), token);
        let page = visitor.get("/tenants").await;
        if accepted {
            assert_eq!(page.status, 200, "{what}");
        } else {
            assert_eq!(page.location.as_deref(), Some("/signin"), "{what}");
        }
    }
}

/// A signed-in member of the app's tenant.
pub(super) async fn member(app: &TestApp, console: &Console, role: Role) -> Browser {
    let email = format!("{role}@acme.test");
    crate::helpers::user_with_password(&app.db.conn, &email).await;
    app.tenant.member(&email, role).await;
    let mut browser = Browser::new(console);
    browser.sign_in(&email, PASSWORD).await;
    browser
}

/// A tenant `acme` with one member per role; returns their browsers by role.
pub(super) async fn team(db: &TestDb, console: &Console) -> HashMap<Role, Browser> {
    // Accounts made directly (address confirmed); the sign-up flow has its own test.
    let mut owner = Browser::new(console);
    crate::helpers::user_with_password(&db.conn, "owner@acme.test").await;
    owner.sign_in("owner@acme.test", PASSWORD).await;
    owner.get("/tenants").await;
    owner
        .post("/tenants", &[("name", "Acme"), ("slug", "acme")])
        .await;
    let tenant = crate::helpers::TestTenant::existing(db, "acme").await;
    let mut browsers = HashMap::from([(Role::Owner, owner)]);
    for role in [Role::Admin, Role::Developer, Role::Finance, Role::Viewer] {
        let mut browser = Browser::new(console);
        let email = format!("{role}@acme.test");
        crate::helpers::user_with_password(&db.conn, &email).await;
        browser.sign_in(&email, PASSWORD).await;
        tenant.member(&email, role).await;
        browsers.insert(role, browser);
    }
    browsers
}

/// Creates a key through the form and opens the page it redirects to (where the
/// key is shown once).
pub(super) async fn create_key(browser: &mut Browser, slug: &str, env: &str, name: &str) -> Page {
    browser.get(&format!("/t/{slug}/keys?env={env}")).await;
    let posted = browser
        .post(&format!("/t/{slug}/keys"), &[("env", env), ("name", name)])
        .await;
    browser.follow(posted).await
}

#[actix_web::test]
async fn each_role_can_do_what_the_matrix_says_and_nothing_else() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut team = team(&db, &console).await;

    // Creating keys per environment: (role, env, allowed).
    for (role, env, allowed) in [
        (Role::Owner, "prod", true),
        (Role::Admin, "ci", true),
        (Role::Developer, "dev", true),
        (Role::Developer, "stg", true),
        (Role::Developer, "prod", false),
        (Role::Developer, "ci", false),
        (Role::Finance, "dev", false),
        (Role::Viewer, "dev", false),
    ] {
        let browser = team.get_mut(&role).unwrap();
        let page = create_key(browser, "acme", env, &format!("{role}-{env}")).await;
        let expected = if allowed { 200 } else { 403 };
        assert_eq!(page.status, expected, "{role} creating a {env} key");
        if allowed {
            assert!(shown_key(&page).starts_with(&format!("{env}_")));
        }
    }

    // A developer manages their own dev key but not the owner's.
    let owner = team.get_mut(&Role::Owner).unwrap();
    create_key(owner, "acme", "dev", "owner-dev").await;
    let owner_page = owner.get("/t/acme/keys?env=dev").await;
    let developer = team.get_mut(&Role::Developer).unwrap();
    let dev_page = developer.get("/t/acme/keys?env=dev").await;
    let own = key_ids(&dev_page);
    assert_eq!(
        own.len(),
        1,
        "a developer sees actions only on their own key"
    );
    let owners_key = key_ids(&owner_page)
        .into_iter()
        .find(|id| !own.contains(id))
        .unwrap();
    let denied = developer
        .post(&format!("/t/acme/keys/{owners_key}/revoke"), &[])
        .await;
    assert_eq!(denied.status, 403);
    let posted = developer
        .post(
            &format!("/t/acme/keys/{}/rotate", own[0]),
            &[("grace_hours", "1")],
        )
        .await;
    let allowed = developer.follow(posted).await;
    assert_eq!(allowed.status, 200);
    assert!(allowed.body.contains("keeps working until"));

    // Reading: every member sees the key list; the audit log is for owners,
    // admins and viewers.
    for (role, audit_status) in [
        (Role::Owner, 200),
        (Role::Admin, 200),
        (Role::Developer, 403),
        (Role::Finance, 403),
        (Role::Viewer, 200),
    ] {
        let browser = team.get_mut(&role).unwrap();
        assert_eq!(
            browser.get("/t/acme/keys?env=prod").await.status,
            200,
            "{role}"
        );
        assert_eq!(browser.get("/t/acme/members").await.status, 200, "{role}");
        assert_eq!(
            browser.get("/t/acme/audit").await.status,
            audit_status,
            "{role} reading the audit log"
        );
    }
}

#[actix_web::test]
async fn no_route_reaches_another_tenants_data() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    // Tenant B with a key; a member of tenant A only.
    let mut b_owner = Browser::new(&console);
    b_owner.sign_up("owner@b.test").await;
    b_owner.get("/tenants").await;
    b_owner
        .post("/tenants", &[("name", "B"), ("slug", "tenant-b")])
        .await;
    create_key(&mut b_owner, "tenant-b", "dev", "b-key").await;
    let b_key = key_ids(&b_owner.get("/t/tenant-b/keys?env=dev").await)[0].clone();
    b_owner.get("/t/tenant-b/providers").await;
    b_owner
        .post(
            "/t/tenant-b/providers",
            &[("name", "b-provider"), ("kind", "mock")],
        )
        .await;
    b_owner
        .post(
            "/t/tenant-b/routes",
            &[("model", "b-model"), ("provider", "b-provider")],
        )
        .await;
    let b_user = user_by_email(&db.conn, "owner@b.test").await.id.to_string();
    b_owner.get("/t/tenant-b/members").await;
    b_owner
        .post(
            "/t/tenant-b/invitations",
            &[("email", "invited@b.test"), ("role", "developer")],
        )
        .await;
    let b_invitation = {
        use sea_orm::EntityTrait;
        airlock_schema::entities::invitation::Entity::find()
            .all(&db.conn)
            .await
            .unwrap()[0]
            .id
            .to_string()
    };
    let b_alert = {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        let tenant_b = crate::helpers::TestTenant::existing(&db, "tenant-b").await;
        airlock_schema::entities::alert::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(tenant_b.id()),
            kind: Set("budget".into()),
            severity: Set("warning".into()),
            scope: Set("tenant".into()),
            period: Set("2026-12".into()),
            threshold: Set(80),
            subject: Set("b-alert".into()),
            body: Set("b-alert body".into()),
            key_id: Set(None),
            created_at: Set(chrono::Utc::now()),
            acknowledged_at: Set(None),
            acknowledged_by: Set(None),
            mail_state: Set("none".into()),
            mail_attempts: Set(0),
            mail_error: Set(None),
            next_mail_at: Set(None),
            emailed_at: Set(None),
        }
        .insert(&db.conn)
        .await
        .unwrap()
        .id
        .to_string()
    };
    let b_route = {
        use sea_orm::EntityTrait;
        airlock_schema::entities::model_route::Entity::find()
            .all(&db.conn)
            .await
            .unwrap()[0]
            .id
            .to_string()
    };
    let mut a_admin = Browser::new(&console);
    a_admin.sign_up("admin@a.test").await;
    a_admin.get("/tenants").await;
    a_admin
        .post("/tenants", &[("name", "A"), ("slug", "tenant-a")])
        .await;
    a_admin.get("/t/tenant-a/keys").await;

    // Routes that take no tenant: reachable by design, nothing tenant-specific.
    // `/invite/{token}` is addressed by a secret token, not a tenant, and
    // `/account/tokens` by the signed-in user (their own tests cover who may use
    // them: management_api.rs revokes another user's token id and gets 404).
    let unscoped = [
        "/",
        "/signin",
        "/signup",
        "/signout",
        "/verify/{token}",
        "/verify/resend",
        "/forgot",
        "/reset/{token}",
        "/tenants",
        "/invite/{token}",
        "/invite/{token}/accept",
        "/account/tokens",
        "/account/tokens/{token_id}/revoke",
        "/account/notifications",
        "/account/tokens/created/{ticket}",
    ];
    let mut swept = 0;
    for (method, route) in airlock_console::web::ROUTES {
        if !route.contains("{slug}") {
            assert!(
                unscoped.contains(route),
                "{method} {route} takes no tenant and is not in the sweep's unscoped list"
            );
            continue;
        }
        // B's slug with B's ids, and A's slug with B's ids.
        for slug in ["tenant-b", "tenant-a"] {
            let path = route
                .replace("{slug}", slug)
                .replace("{key_id}", &b_key)
                .replace("{route_id}", &b_route)
                .replace("{user_id}", &b_user)
                .replace("{invitation_id}", &b_invitation)
                .replace("{alert_id}", &b_alert)
                .replace("{env}", "dev")
                .replace("{class}", "internal");
            let names_b_row = [
                "{key_id}",
                "{route_id}",
                "{user_id}",
                "{invitation_id}",
                "{alert_id}",
            ]
            .iter()
            .any(|id| route.contains(id));
            if slug == "tenant-a" && !names_b_row {
                continue; // A's own pages are A's to see.
            }
            let page = if *method == "get" {
                a_admin.get(&path).await
            } else {
                a_admin
                    .post(
                        &path,
                        &[
                            ("env", "dev"),
                            ("name", "x"),
                            ("grace_hours", "1"),
                            ("kind", "mock"),
                            ("provider", "b-provider"),
                            ("rpm", "1"),
                            ("max_data_class", "internal"),
                            ("default_data_class", "internal"),
                            ("role", "viewer"),
                            ("email", "intruder@a.test"),
                        ],
                    )
                    .await
            };
            assert!(
                page.status == 403 || page.status == 404,
                "{method} {path} answered {}",
                page.status
            );
            for secret in ["b-key", "b-provider", "b-model", "b-alert"] {
                assert!(
                    !page.body.contains(secret),
                    "{method} {path} leaked B's {secret}"
                );
            }
        }
        swept += 1;
    }
    assert!(swept >= 20, "the sweep covered only {swept} tenant routes");
    // B's key is untouched.
    let page = b_owner.get("/t/tenant-b/keys?env=dev").await;
    assert!(page.body.contains("status active"));
    let page = b_owner.get("/t/tenant-b/providers").await;
    assert!(page.body.contains("b-model") && !page.body.contains("data-provider=\"x\""));
    // B's alert is still unacknowledged.
    let page = b_owner.get("/t/tenant-b/alerts").await;
    assert!(page.body.contains("b-alert") && page.body.contains(">Acknowledge<"));
    // B's invitation is still pending.
    let page = b_owner.get("/t/tenant-b/members").await;
    assert!(page.body.contains("data-invitation=\"invited@b.test\""));
}

/// Signing in lands where the person works: their only tenant, else the tenant
/// they last opened a page of (if still a member), else the tenant list.
#[actix_web::test]
async fn signing_in_lands_in_the_only_or_the_last_used_tenant() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut first = Browser::new(&console);
    first.sign_up("lands@example.com").await;
    first.get("/tenants").await;
    first
        .post("/tenants", &[("name", "One"), ("slug", "one")])
        .await;
    let mut browser = Browser::new(&console);
    let page = browser.sign_in("lands@example.com", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/t/one/keys"));

    browser.get("/tenants").await;
    browser
        .post("/tenants", &[("name", "Two"), ("slug", "two")])
        .await;
    // Two tenants and a browser that never opened one: the list.
    let mut elsewhere = Browser::new(&console);
    let page = elsewhere.sign_in("lands@example.com", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/tenants"));
    // The browser that last opened a page of `two` lands there.
    assert_eq!(browser.get("/t/two/members").await.status, 200);
    let page = browser.sign_in("lands@example.com", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/t/two/keys"));
    // A page of a tenant that does not exist (a 404) changes nothing.
    assert_eq!(browser.get("/t/nope/keys").await.status, 404);
    let page = browser.sign_in("lands@example.com", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/t/two/keys"));
}

#[actix_web::test]
async fn the_tab_icon_is_served_and_linked_from_every_page() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut browser = Browser::new(&console);
    let signin = browser.get("/signin").await;
    assert!(
        signin
            .body
            .contains(r#"<link rel="icon" href="/static/favicon.svg""#)
    );
    for path in ["/static/favicon.svg", "/favicon.ico"] {
        let icon = browser.get(path).await;
        assert_eq!(icon.status, 200, "{path}");
        assert!(icon.body.starts_with("<svg"), "{path}");
    }
}

/// Post-redirect-get with a one-time, session-bound ticket: the key is shown once
/// to the session that made it; a reload, another session of the same person
/// and a late visit see "already shown", and none of them makes a key.
#[actix_web::test]
async fn a_new_key_is_shown_once_to_its_own_session_and_a_reload_makes_nothing() {
    use airlock_schema::entities::{relay_key, shown_once};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr};

    let app = TestApp::spawn().await;
    let console = spawn_console(&app.db.conn).await;
    let mut browser = Browser::new(&console);
    browser.sign_up("once@example.com").await;
    app.tenant.member("once@example.com", Role::Admin).await;
    let mut other_session = Browser::new(&console);
    other_session.sign_in("once@example.com", PASSWORD).await;
    let keys_of_tenant = || async {
        relay_key::Entity::find()
            .filter(relay_key::Column::TenantId.eq(app.tenant_id))
            .count(&app.db.conn)
            .await
            .unwrap()
    };
    let before = keys_of_tenant().await;

    browser.get("/t/acme/keys?env=dev").await;
    let posted = browser
        .post("/t/acme/keys", &[("env", "dev"), ("name", "once")])
        .await;
    assert_eq!(posted.status, 303);
    let location = posted.location.clone().unwrap();
    assert!(location.starts_with("/t/acme/keys/created/"), "{location}");
    // Held sealed: no column of the held row carries the key's text.
    let held = shown_once::Entity::find().all(&app.db.conn).await.unwrap();
    assert_eq!(held.len(), 1);
    assert!(!held[0].ciphertext.windows(4).any(|w| w == b"dev_"));

    // Another session of the same person gets nothing and uses nothing up.
    let elsewhere = other_session.get(&location).await;
    assert_eq!(elsewhere.status, 200);
    assert!(elsewhere.body.contains("already shown"));
    assert!(!elsewhere.body.contains("id=\"new-key\""));

    let shown = browser.get(&location).await;
    assert_eq!(shown.status, 200);
    assert_eq!(
        shown
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "a page with a key is kept in no cache"
    );
    let key = shown_key(&shown);
    assert!(key.starts_with("dev_"));
    assert!(!elsewhere.body.contains(&key));
    // With the relay's address and snippets that carry the key.
    assert!(
        shown
            .body
            .contains(r#"<code id="relay-url">https://relay.acme.test</code>"#)
    );
    assert!(shown.body.contains(&format!(
        "OpenAI(base_url=&#34;https://relay.acme.test/v1&#34;, api_key=&#34;{key}&#34;)"
    )));
    assert!(
        shown
            .body
            .contains(&format!("export ANTHROPIC_API_KEY={key}"))
    );
    // Reload: "already shown", not the key, and no second key.
    let reloaded = browser.get(&location).await;
    assert!(reloaded.body.contains("already shown"));
    assert!(!reloaded.body.contains(&key));
    assert_eq!(keys_of_tenant().await, before + 1);
    assert_eq!(
        shown_once::Entity::find()
            .count(&app.db.conn)
            .await
            .unwrap(),
        0
    );

    // After ten minutes the page shows nothing either (the hold is made older here).
    let posted = browser
        .post("/t/acme/keys", &[("env", "dev"), ("name", "late")])
        .await;
    let late = posted.location.clone().unwrap();
    shown_once::Entity::update_many()
        .col_expr(
            shown_once::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.db.conn)
        .await
        .unwrap();
    let too_late = browser.get(&late).await;
    assert!(too_late.body.contains("already shown"));
    assert!(!too_late.body.contains("id=\"new-key\""));
    // A made-up ticket is the same page, not an error.
    let made_up = browser
        .get(&format!("/t/acme/keys/created/{}", "ab".repeat(32)))
        .await;
    assert!(made_up.body.contains("already shown"));
    let nonsense = browser.get("/t/acme/keys/created/nonsense").await;
    assert!(nonsense.body.contains("already shown"));
}

#[actix_web::test]
async fn keys_made_in_the_console_work_on_the_relay_and_revocation_and_rotation_follow() {
    let app = TestApp::spawn().await;
    let console = spawn_console(&app.db.conn).await;
    let mut browser = Browser::new(&console);
    browser.sign_up("dev.lead@example.com").await;
    app.tenant.member("dev.lead@example.com", Role::Admin).await;
    let chat = json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]});

    let page = create_key(&mut browser, "acme", "dev", "from-console").await;
    let key = shown_key(&page);
    assert!(page.body.contains("never show it again"));
    // Shown once: the list has only the prefix.
    let list = browser.get("/t/acme/keys?env=dev").await;
    assert!(!list.body.contains(&key));
    let wait_for = |status: u16, key: String| {
        let app = &app;
        let chat = chat.clone();
        async move {
            let started = Instant::now();
            loop {
                let got = app
                    .post("/v1/chat/completions", &key, chat.clone())
                    .await
                    .status();
                if got == status {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "still {got}, wanted {status}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(200, key.clone()).await;

    // Rotate with a grace period: both keys work.
    let id = key_ids(&list)[0].clone();
    let posted = browser
        .post(
            &format!("/t/acme/keys/{id}/rotate"),
            &[("grace_hours", "2")],
        )
        .await;
    assert_eq!(posted.status, 303, "rotation answers with a redirect");
    let rotated = browser.follow(posted).await;
    assert_eq!(rotated.status, 200);
    let new_key = shown_key(&rotated);
    assert_ne!(new_key, key);
    wait_for(200, new_key.clone()).await;
    wait_for(200, key.clone()).await;
    let list = browser.get("/t/acme/keys?env=dev").await;
    assert!(list.body.contains("status grace") && list.body.contains("status active"));

    // Revoke the new key: the relay refuses it within a second.
    let new_id = key_ids(&list)
        .into_iter()
        .find(|candidate| *candidate != id)
        .unwrap();
    let revoked = browser
        .post(&format!("/t/acme/keys/{new_id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, 303);
    wait_for(401, new_key).await;
    wait_for(200, key).await;
}

/// The keys list: search by name (any case; `_` and `%` are literal) or prefix,
/// revoked keys hidden unless asked for, a notice after revoking, sort by use.
#[actix_web::test]
async fn the_keys_list_searches_hides_revoked_keys_and_sorts_by_last_use() {
    use airlock_schema::entities::relay_key;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut browser = Browser::new(&console);
    browser.sign_up("lister@example.com").await;
    browser.get("/tenants").await;
    browser
        .post("/tenants", &[("name", "Listed"), ("slug", "listed")])
        .await;
    for name in [
        "checkout-api",
        "billing-job",
        "Checkout_Worker",
        "report-writer",
    ] {
        create_key(&mut browser, "listed", "dev", name).await;
    }
    let key_named = |name: &'static str| {
        let db = &db;
        async move {
            relay_key::Entity::find()
                .filter(relay_key::Column::Name.eq(name))
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let listed = |page: &Page, name: &str| page.body.contains(&format!("<td>{name}</td>"));

    browser.get("/t/listed/keys?env=dev").await;
    let billing = key_named("billing-job").await;
    let revoked = browser
        .post(&format!("/t/listed/keys/{}/revoke", billing.id), &[])
        .await;
    assert_eq!(
        revoked.location.as_deref(),
        Some("/t/listed/keys?env=dev&done=key-revoked")
    );
    let page = browser.follow(revoked).await;
    assert!(page.body.contains("Key revoked"), "a notice says so");
    assert!(!listed(&page, "billing-job"), "revoked keys are hidden");
    assert!(listed(&page, "checkout-api") && listed(&page, "report-writer"));

    let page = browser.get("/t/listed/keys?env=dev&status=revoked").await;
    assert!(listed(&page, "billing-job") && !listed(&page, "checkout-api"));
    let page = browser.get("/t/listed/keys?env=dev&status=all").await;
    assert!(listed(&page, "billing-job") && listed(&page, "checkout-api"));

    let page = browser.get("/t/listed/keys?env=dev&q=CHECKOUT").await;
    assert!(listed(&page, "checkout-api") && listed(&page, "Checkout_Worker"));
    assert!(!listed(&page, "report-writer"));
    // `_` is a character, not a wildcard: `t_w` is not `t-w`.
    let page = browser.get("/t/listed/keys?env=dev&q=t_w").await;
    assert!(listed(&page, "Checkout_Worker") && !listed(&page, "report-writer"));
    let page = browser.get("/t/listed/keys?env=dev&q=50%25").await;
    assert!(page.body.contains("No dev keys match"));
    // By the start of the prefix.
    let writer = key_named("report-writer").await;
    let page = browser
        .get(&format!(
            "/t/listed/keys?env=dev&q={}",
            writer.display_prefix
        ))
        .await;
    assert!(listed(&page, "report-writer") && !listed(&page, "checkout-api"));

    // Last used first, never used last.
    let mut used = key_named("checkout-api").await.into_active_model();
    used.last_used_at = Set(Some(chrono::Utc::now()));
    used.update(&db.conn).await.unwrap();
    let page = browser.get("/t/listed/keys?env=dev&sort=last_used").await;
    let at = |name: &str| page.body.find(&format!("<td>{name}</td>")).unwrap();
    assert!(at("checkout-api") < at("report-writer"));
    assert!(at("checkout-api") < at("Checkout_Worker"));
    let page = browser.get("/t/listed/keys?env=dev").await;
    let at = |name: &str| page.body.find(&format!("<td>{name}</td>")).unwrap();
    assert!(
        at("report-writer") < at("checkout-api"),
        "newest first by default"
    );
}

#[actix_web::test]
async fn the_audit_chain_verifies_and_shows_where_it_was_tampered_with() {
    use sea_orm::ConnectionTrait;
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut browser = Browser::new(&console);
    browser.sign_up("auditor@example.com").await;
    browser.get("/tenants").await;
    browser
        .post("/tenants", &[("name", "Audited"), ("slug", "audited")])
        .await;
    for name in ["one", "two"] {
        create_key(&mut browser, "audited", "dev", name).await;
    }
    let page = browser.get("/t/audited/audit").await;
    assert!(page.body.contains("tenant.create") && page.body.contains("key.create"));
    let filtered = browser.get("/t/audited/audit?action=tenant.").await;
    assert!(!filtered.body.contains("key.create"));
    let verified = browser.post("/t/audited/audit/verify", &[]).await;
    assert!(
        verified.body.contains("The chain is intact: all 3 events"),
        "{}",
        verified.body
    );
    // Someone with database access rewrites history.
    db.conn
        .execute_unprepared("UPDATE audit_events SET actor_label = 'someone-else' WHERE seq = 2")
        .await
        .unwrap();
    let verified = browser.post("/t/audited/audit/verify", &[]).await;
    assert!(
        verified.body.contains("The chain breaks at event #2"),
        "{}",
        verified.body
    );
}
