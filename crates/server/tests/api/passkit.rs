//! A simulated iPhone speaks the device side of Apple's Wallet web service: it registers for
//! a pass, lists what changed, fetches the signed pass, opens it, checks the manifest and the
//! signature (with `openssl cms -verify`, an implementation of its own), and unregisters.

use std::collections::HashMap;
use std::io::Read;

use loyalcast::config::Config;
use loyalcast::entity::pass;
use loyalcast_dto::{Card, Customer, Pass};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::db_tests;
use crate::helpers::{TestApp, json};

db_tests!(
    config = super::with_pass_certificate;
    a_device_registers_lists_fetches_and_verifies_its_pass,
    tokens_are_checked_per_pass,
    store_locations_reach_the_pass,
);

pub(crate) const PASS_TYPE: &str = "pass.test.loyalcast.card";
pub(crate) const DEVICE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A pass type certificate of a development WWDR stand-in, given as configured material
/// (the path a real certificate takes).
pub(crate) fn with_pass_certificate(config: &mut Config) {
    let material = loyalcast::wallet::dev_certs::generate(
        PASS_TYPE,
        "TESTTEAM01",
        std::time::SystemTime::now(),
    )
    .unwrap();
    config.apple_wallet.pass_type_id = PASS_TYPE.to_owned();
    config.apple_wallet.team_id = "TESTTEAM01".to_owned();
    config.apple_wallet.certificate_pem = Some(material.certificate_pem);
    config.apple_wallet.key_pem = Some(material.key_pem);
    config.apple_wallet.wwdr_pem = Some(material.wwdr_pem);
}

/// A card, a customer and their Apple pass.
pub(crate) async fn installed_pass(app: &TestApp, name: &str) -> Installed {
    let t = app.tenant(name).await;
    let card: Card = json(
        app.post(
            "/api/v1/cards",
            &t.token,
            &json!({"name": "Coffee points", "kind": "points", "description": "A point per coffee",
                    "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": name}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let customer: Customer = json(
        app.post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Ada", "last_name": "Wallet", "phone": "+14155550199", "points": 120}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let issued: Pass = json(
        app.post(
            "/api/v1/passes",
            &t.token,
            &json!({"card_id": card.id, "customer_id": customer.id, "platform": "apple"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let stored = pass::Entity::find_by_id(issued.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    Installed {
        pass: issued,
        token: stored.authentication_token,
        owner: t.token,
        customer: customer.id,
    }
}

/// A pass as installed on the phone, and who issued it.
pub(crate) struct Installed {
    pub(crate) pass: Pass,
    /// The pass's authentication token, as the phone has it (inside the pass it installed).
    pub(crate) token: String,
    /// The merchant owner's session token.
    pub(crate) owner: String,
    pub(crate) customer: uuid::Uuid,
}

/// The device's side of the protocol.
pub(crate) struct Phone<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) device: String,
}

impl Phone<'_> {
    pub(crate) fn registration(&self, serial: &str) -> String {
        format!(
            "/passkit/v1/devices/{}/registrations/{PASS_TYPE}/{serial}",
            self.device
        )
    }

    pub(crate) async fn register(&self, serial: &str, token: &str, push_token: &str) -> StatusCode {
        self.app
            .client
            .post(self.app.url(&self.registration(serial)))
            .header("authorization", format!("ApplePass {token}"))
            .json(&json!({"pushToken": push_token}))
            .send()
            .await
            .unwrap()
            .status()
    }

    pub(crate) async fn unregister(&self, serial: &str, token: &str) -> StatusCode {
        self.app
            .client
            .delete(self.app.url(&self.registration(serial)))
            .header("authorization", format!("ApplePass {token}"))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// (status, body) of "what changed since `tag`".
    pub(crate) async fn updated_since(&self, tag: Option<&str>) -> (StatusCode, Option<Value>) {
        let mut url = self.app.url(&format!(
            "/passkit/v1/devices/{}/registrations/{PASS_TYPE}",
            self.device
        ));
        if let Some(tag) = tag {
            url.push_str(&format!("?passesUpdatedSince={tag}"));
        }
        let response = self.app.client.get(url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        (status, serde_json::from_str(&body).ok())
    }

    pub(crate) async fn fetch(
        &self,
        method: Method,
        serial: &str,
        token: &str,
        since: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .request(
                method,
                self.app
                    .url(&format!("/passkit/v1/passes/{PASS_TYPE}/{serial}")),
            )
            .header("authorization", format!("ApplePass {token}"));
        if let Some(since) = since {
            request = request.header("if-modified-since", since);
        }
        request.send().await.unwrap()
    }
}

/// Opens a .pkpass as a device does: every file but the manifest and the signature is in
/// the manifest with its SHA-1, and the signature verifies for the manifest against the
/// WWDR certificate. Returns pass.json.
pub(crate) fn open_and_verify(bytes: &[u8], wwdr_pem: &str) -> Value {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        files.insert(file.name().to_owned(), content);
    }
    for required in ["pass.json", "manifest.json", "signature", "icon.png"] {
        assert!(files.contains_key(required), "{required} in the pass");
    }
    let manifest: HashMap<String, String> =
        serde_json::from_slice(&files["manifest.json"]).unwrap();
    for (name, content) in &files {
        if name == "manifest.json" || name == "signature" {
            continue;
        }
        assert_eq!(
            manifest.get(name),
            Some(&hex::encode(Sha1::digest(content))),
            "{name}'s SHA-1 in the manifest"
        );
    }
    assert_eq!(
        manifest.len(),
        files.len() - 2,
        "the manifest lists every file"
    );

    let dir = std::env::temp_dir().join(format!("pkpass-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), &files["manifest.json"]).unwrap();
    std::fs::write(dir.join("signature"), &files["signature"]).unwrap();
    std::fs::write(dir.join("wwdr.pem"), wwdr_pem).unwrap();
    let verify = |content: &str| {
        std::process::Command::new("openssl")
            .args([
                "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
            ])
            .arg("-in")
            .arg(dir.join("signature"))
            .arg("-content")
            .arg(dir.join(content))
            .arg("-CAfile")
            .arg(dir.join("wwdr.pem"))
            .args(["-out", "/dev/null"])
            .output()
            .expect("openssl is installed")
    };
    let verified = verify("manifest.json");
    assert!(
        verified.status.success(),
        "the signature verifies: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // A check that can fail: a changed manifest does not verify.
    std::fs::write(dir.join("tampered.json"), b"{}").unwrap();
    assert!(!verify("tampered.json").status.success());
    std::fs::remove_dir_all(&dir).ok();
    serde_json::from_slice(&files["pass.json"]).unwrap()
}

pub(crate) fn back_field<'a>(pass_json: &'a Value, key: &str) -> &'a Value {
    pass_json["storeCard"]["backFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap()
}

async fn a_device_registers_lists_fetches_and_verifies_its_pass(app: &TestApp) {
    let installed = installed_pass(app, "Wallet Cafe").await;
    let (serial, token) = (
        installed.pass.serial_number.as_str(),
        installed.token.clone(),
    );
    let phone = Phone {
        app,
        device: DEVICE.to_owned(),
    };
    assert_eq!(phone.updated_since(None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        phone.register(serial, &token, "push-token-1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        phone.register(serial, &token, "push-token-2").await,
        StatusCode::OK,
        "known: the token is updated"
    );

    // No tag: every pass of the device; `lastUpdated` is a string.
    let (status, body) = phone.updated_since(None).await;
    assert_eq!(status, StatusCode::OK);
    let body = body.unwrap();
    assert_eq!(body["serialNumbers"], json!([serial]));
    let tag = body["lastUpdated"].as_str().expect("a string").to_owned();
    assert_eq!(
        phone.updated_since(Some(&tag)).await.0,
        StatusCode::NO_CONTENT
    );

    let response = phone.fetch(Method::GET, serial, &token, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apple.pkpass"
    );
    let last_modified = response.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    let wwdr = app.config.apple_wallet.wwdr_pem.clone().unwrap();
    let pass_json = open_and_verify(&bytes, &wwdr);
    assert_eq!(pass_json["serialNumber"], serial);
    assert_eq!(pass_json["passTypeIdentifier"], PASS_TYPE);
    assert_eq!(pass_json["teamIdentifier"], "TESTTEAM01");
    assert_eq!(pass_json["authenticationToken"], token.as_str());
    assert_eq!(
        pass_json["webServiceURL"],
        format!("{}/passkit", app.config.public_url)
    );
    assert_eq!(pass_json["organizationName"], "Wallet Cafe");
    assert_eq!(pass_json["storeCard"]["primaryFields"][0]["value"], "120");
    assert_eq!(
        back_field(&pass_json, "latest_message")["changeMessage"],
        "%@"
    );

    // Not modified since: 304, for an HTTP date and for seconds since the epoch; HEAD too.
    let again = phone
        .fetch(Method::GET, serial, &token, Some(&last_modified))
        .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let seconds = chrono::DateTime::parse_from_rfc2822(&last_modified)
        .unwrap()
        .timestamp()
        .to_string();
    let numeric = phone
        .fetch(Method::GET, serial, &token, Some(&seconds))
        .await;
    assert_eq!(numeric.status(), StatusCode::NOT_MODIFIED);
    let head = phone.fetch(Method::HEAD, serial, &token, None).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("last-modified"));
    assert!(head.bytes().await.unwrap().is_empty());

    // The customer's points change: the pass is listed again with a new tag, and the pass
    // fetched shows them.
    let patched = app
        .patch(
            &format!("/api/v1/customers/{}", installed.customer),
            &installed.owner,
            &json!({"points": 135}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let (status, body) = phone.updated_since(Some(&tag)).await;
    assert_eq!(status, StatusCode::OK);
    let body = body.unwrap();
    assert_eq!(body["serialNumbers"], json!([serial]));
    let new_tag = body["lastUpdated"].as_str().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    assert_eq!(
        phone.updated_since(Some(&new_tag)).await.0,
        StatusCode::NO_CONTENT
    );
    let updated = phone
        .fetch(Method::GET, serial, &token, Some(&last_modified))
        .await;
    assert_eq!(updated.status(), StatusCode::OK, "modified since");
    let pass_json = open_and_verify(&updated.bytes().await.unwrap(), &wwdr);
    assert_eq!(pass_json["storeCard"]["primaryFields"][0]["value"], "135");

    // A CSV import that changes the points moves the pass too (merged on the phone number).
    let imported = app
        .import_csv(
            &installed.owner,
            "first_name,last_name,phone,points\nAda,Wallet,+14155550199,150\n",
        )
        .await;
    assert_eq!(imported.status(), StatusCode::OK);
    let (status, body) = phone.updated_since(Some(&new_tag)).await;
    assert_eq!(status, StatusCode::OK, "the import moved the pass");
    assert_eq!(body.unwrap()["serialNumbers"], json!([serial]));
    let fetched = phone.fetch(Method::GET, serial, &token, None).await;
    let pass_json = open_and_verify(&fetched.bytes().await.unwrap(), &wwdr);
    assert_eq!(pass_json["storeCard"]["primaryFields"][0]["value"], "150");

    // Devices' logs are taken.
    let logged = app
        .client
        .post(app.url("/passkit/v1/log"))
        .json(&json!({"logs": ["a device says hello"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), StatusCode::OK);

    // Unregistered, the device has nothing to list.
    assert_eq!(phone.unregister(serial, &token).await, StatusCode::OK);
    assert_eq!(phone.updated_since(None).await.0, StatusCode::NO_CONTENT);
    app.assert_healthy().await;
}

async fn tokens_are_checked_per_pass(app: &TestApp) {
    let first = installed_pass(app, "Token Bakery").await;
    let second = installed_pass(app, "Token Deli").await;
    let (first_token, second_token) = (first.token.clone(), second.token.clone());
    let phone = Phone {
        app,
        device: "ffeeddccbbaa00998877665544332211".to_owned(),
    };
    let serial = first.pass.serial_number.as_str();
    let wrong = [
        second_token.clone(),
        format!("{first_token}x"),
        first_token[..first_token.len() - 1].to_owned(),
        String::new(),
    ];
    for token in &wrong {
        assert_eq!(
            phone.register(serial, token, "push").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            phone.fetch(Method::GET, serial, token, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            phone.unregister(serial, token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Without the scheme, or for another pass type or an unknown serial: the same 401.
    let bare = app
        .client
        .get(app.url(&format!("/passkit/v1/passes/{PASS_TYPE}/{serial}")))
        .header("authorization", first_token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let other_type = app
        .client
        .get(app.url(&format!("/passkit/v1/passes/pass.other.type/{serial}")))
        .header("authorization", format!("ApplePass {first_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other_type.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        phone
            .fetch(Method::GET, "NO-SUCH-SERIAL", &first_token, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Each pass's own token works for it.
    assert_eq!(
        phone
            .register(&second.pass.serial_number, &second_token, "push")
            .await,
        StatusCode::CREATED
    );
    assert_eq!(
        phone
            .fetch(Method::GET, serial, &first_token, None)
            .await
            .status(),
        StatusCode::OK
    );
}

/// Up to ten stores on the card surface the pass near them: they reach pass.json with their
/// lock-screen text, a change of the card moves its passes' tags, and more than ten or a
/// latitude off the globe are refused at their fields.
async fn store_locations_reach_the_pass(app: &TestApp) {
    let installed = installed_pass(app, "Stores Cafe").await;
    let serial = installed.pass.serial_number.clone();
    let phone = Phone {
        app,
        device: DEVICE.to_owned(),
    };
    phone
        .register(&serial, &installed.token, "token-stores")
        .await;
    let (_, listed) = phone.updated_since(None).await;
    let tag = listed.unwrap()["lastUpdated"].as_str().unwrap().to_owned();
    let card_path = format!("/api/v1/cards/{}", installed.pass.card_id);
    let card = |locations: Value| {
        json!({"name": "Coffee points", "kind": "points", "description": "A point per coffee",
               "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": "Stores Cafe"},
               "locations": locations})
    };
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"latitude": 37.0 + f64::from(i) / 100.0, "longitude": -122.4}))
        .collect();
    let too_many = crate::helpers::problem(
        app.request(Method::PUT, &card_path, Some(&installed.owner))
            .json(&card(json!(eleven)))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(crate::helpers::fields(&too_many).contains(&"locations".to_owned()));
    let off_globe = crate::helpers::problem(
        app.request(Method::PUT, &card_path, Some(&installed.owner))
            .json(&card(json!([{"latitude": 90.5, "longitude": 0.0}, {"latitude": 0.0, "longitude": -180.01}])))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        crate::helpers::fields(&off_globe),
        vec![
            "locations[0].latitude".to_owned(),
            "locations[1].longitude".to_owned()
        ]
    );
    assert_eq!(
        phone.updated_since(Some(&tag)).await.0,
        StatusCode::NO_CONTENT,
        "a refused change changes nothing"
    );

    let saved: Card = json(
        app.request(Method::PUT, &card_path, Some(&installed.owner))
            .json(&card(json!([
                {"latitude": 37.7793, "longitude": -122.4193, "relevant_text": "  Market St is around the corner  "},
                {"latitude": -33.8688, "longitude": 151.2093}
            ])))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved.locations.len(), 2);
    assert_eq!(
        saved.locations[0].relevant_text,
        "Market St is around the corner"
    );
    let (status, listed) = phone.updated_since(Some(&tag)).await;
    assert_eq!(status, StatusCode::OK, "the card's change moves its passes");
    assert_eq!(listed.unwrap()["serialNumbers"], json!([serial]));
    let bytes = phone
        .fetch(Method::GET, &serial, &installed.token, None)
        .await
        .bytes()
        .await
        .unwrap();
    let wwdr = app.config.apple_wallet.wwdr_pem.clone().unwrap();
    let pass_json = open_and_verify(&bytes, &wwdr);
    let locations = pass_json["locations"].as_array().unwrap();
    assert_eq!(locations.len(), 2);
    assert_eq!(locations[0]["latitude"], 37.7793);
    assert_eq!(
        locations[0]["relevantText"],
        "Market St is around the corner"
    );
    assert_eq!(locations[1]["relevantText"], "Coffee points is nearby");
}
