//! Development signing material for Apple Wallet passes: a stand-in for Apple's WWDR
//! intermediate and a pass type certificate it issued, made on the spot. Passes signed with
//! them verify (`openssl cms -verify` against the stand-in), so the whole web service can be
//! run and tested without an Apple account; a real device refuses them, and the dashboard and
//! the enrolment page say so.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::EncodePem;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

/// PEM texts of a development WWDR stand-in, and of a pass type certificate and its
/// PKCS#8 key.
#[derive(Clone)]
pub struct DevMaterial {
    pub wwdr_pem: String,
    pub certificate_pem: String,
    pub key_pem: secrecy::SecretString,
}

/// Makes development material for `pass_type_id` of `team_id`, valid from `now` for a year.
/// Two RSA keys of 2048 bits: a fraction of a second with the optimised build of `rsa`.
pub fn generate(pass_type_id: &str, team_id: &str, now: SystemTime) -> anyhow::Result<DevMaterial> {
    let mut rng = rand::rngs::OsRng;
    let validity = Validity {
        not_before: Time::try_from(now - Duration::from_secs(3600))?,
        not_after: Time::try_from(now + Duration::from_secs(365 * 24 * 3600))?,
    };

    let ca_key = RsaPrivateKey::new(&mut rng, 2048)?;
    let ca_signer = SigningKey::<Sha256>::new(ca_key.clone());
    let ca_name = Name::from_str(
        "CN=Loyalcast Development WWDR (not Apple),OU=Development only,O=Loyalcast,C=US",
    )?;
    let ca_spki = SubjectPublicKeyInfoOwned::from_key(RsaPublicKey::from(&ca_key))?;
    let ca = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        validity,
        ca_name.clone(),
        ca_spki,
        &ca_signer,
    )?
    .build::<rsa::pkcs1v15::Signature>()?;

    let pass_key = RsaPrivateKey::new(&mut rng, 2048)?;
    let subject = Name::from_str(&format!(
        "UID={pass_type_id},CN=Pass Type ID: {pass_type_id},OU={team_id},O=Loyalcast development,C=US"
    ))?;
    let pass_spki = SubjectPublicKeyInfoOwned::from_key(RsaPublicKey::from(&pass_key))?;
    let certificate = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        SerialNumber::from(2u32),
        validity,
        subject,
        pass_spki,
        &ca_signer,
    )?
    .build::<rsa::pkcs1v15::Signature>()?;

    Ok(DevMaterial {
        wwdr_pem: ca.to_pem(LineEnding::LF)?,
        certificate_pem: certificate.to_pem(LineEnding::LF)?,
        key_pem: secrecy::SecretString::from(pass_key.to_pkcs8_pem(LineEnding::LF)?.to_string()),
    })
}
