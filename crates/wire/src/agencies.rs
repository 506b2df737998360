//! Agencies, footage requests, households' responses and evidence.

use serde::{Deserialize, Serialize};

use crate::log::Area;

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgencyApplication {
    /// The agency's name, as the public will see it.
    pub name: String,
    /// Where it has authority (a city, a county).
    pub jurisdiction: String,
    /// Its public website (https), where the operator can check the phone number.
    pub website: String,
    /// Its public switchboard number, which the operator calls to verify.
    pub phone: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgencyJson {
    pub id: String,
    pub name: String,
    pub jurisdiction: String,
    pub website: String,
    pub phone: String,
    pub applied_ms: i64,
    /// `applied`, `verified` or `rejected`.
    pub status: String,
    pub rejected_reason: Option<String>,
    pub verified_ms: Option<i64>,
    /// The log entry that verified it.
    pub log_index: Option<i64>,
    /// The logged public key bundle (hex) and its identity fingerprint, once verified; while
    /// applied, the fingerprint of the keys the account holds now, which the operator
    /// compares with what the agency reads out on the phone.
    pub public_keys: Option<String>,
    pub fingerprint: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyAgency {
    /// The agency's identity fingerprint as the agency read it out, checked against its keys.
    pub fingerprint: String,
    /// How the agency was checked (logged publicly), e.g. "called the number on its website".
    pub statement: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RejectAgency {
    pub reason: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LegalDemandJson {
    /// Who made the demand (a court, an agency).
    pub authority: String,
    /// Its reference (a warrant or subpoena number).
    pub reference: String,
    /// What was demanded.
    pub demanded: String,
    /// What the operator could produce: ciphertext and metadata only; the server holds no
    /// footage it can open.
    pub produced: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedJson {
    /// The index of the log entry made.
    pub log_index: i64,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewFootageRequest {
    pub case_number: String,
    /// What happened (no category exists for protests, speech or public order).
    pub category: Offence,
    /// What happened and what footage would help (shown to residents).
    pub description: String,
    /// The investigator's name and contact.
    pub investigator: String,
    pub area: Area,
    pub window_from_ms: i64,
    pub window_until_ms: i64,
    /// When the request stops being offered: at most 14 days from now.
    pub expires_ms: i64,
}

/// A request as the households it is offered to see it: what happened, where and when,
/// and which verified agency asks. Never the case number or the investigator's name and
/// contact (design/agencies.md, "What a household sees"): those are the agency's own
/// records, and a household that wants to talk to the agency has the agency's public
/// telephone number from its verified record.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferedRequestJson {
    pub id: String,
    pub agency_id: String,
    pub agency: String,
    /// The agency's public telephone number, as the operator verified it.
    pub agency_phone: String,
    pub category: Offence,
    pub description: String,
    pub area: Area,
    pub area_sq_mi: f64,
    pub window_from_ms: i64,
    pub window_until_ms: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub log_index: i64,
    /// The agency's logged public keys (hex): the only keys a response may be for. The app
    /// checks them against log entry `agency_log_index` before using them.
    pub agency_public_keys: String,
    pub agency_log_index: i64,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAlert {
    /// What residents should know (10 to 1,000 characters).
    pub body: String,
    /// The centre of the area it is for, and its radius (200 m to 8 km).
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    /// When it leaves the feeds: at most 7 days from now.
    pub expires_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertJson {
    pub id: String,
    pub agency: String,
    pub body: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FootageRequestJson {
    pub id: String,
    pub agency_id: String,
    pub agency: String,
    pub case_number: String,
    pub category: Offence,
    pub description: String,
    pub investigator: String,
    pub area: Area,
    pub area_sq_mi: f64,
    pub window_from_ms: i64,
    pub window_until_ms: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub households_offered: i64,
    pub log_index: i64,
    pub expired: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SharedClip {
    pub object_id: String,
    /// The signed grant (`"PLGR"` format), hex.
    pub grant: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RespondJson {
    /// 1 to 20 clips from the request's window. (Not answering at all needs no request:
    /// declining is never sent.)
    pub clips: Vec<SharedClip>,
    /// Contact details for the investigator; leave out to stay "Resident N".
    pub contact: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RespondedJson {
    /// The number the agency knows this answer by ("Resident 7").
    pub resident: i64,
    pub log_index: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantedClipJson {
    pub object_id: String,
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub size_bytes: i64,
    /// The owner's grant (hex): with the agency's key it opens the clip.
    pub grant: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseJson {
    pub resident: i64,
    pub contact: Option<String>,
    pub created_ms: i64,
    pub log_index: i64,
    pub clips: Vec<GrantedClipJson>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustodyJson {
    /// `download` or `export`.
    pub action: String,
    pub object_id: Option<String>,
    pub account_id: String,
    pub created_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvedEntryJson {
    pub index: i64,
    /// The entry's text (its UTF-8 bytes are the leaf).
    pub body: String,
    /// Its inclusion proof in the tree of `EvidenceJson::head`, hex.
    pub proof: Vec<String>,
}

/// What an evidence export needs from the server, recorded as an export in the chain of
/// custody before it is returned.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvidenceJson {
    pub request: FootageRequestJson,
    pub responses: Vec<ResponseJson>,
    pub custody: Vec<CustodyJson>,
    /// The signed tree head the proofs are for, hex, and the log's key (hex).
    pub head: String,
    pub log_key: String,
    pub request_entry: ProvedEntryJson,
    pub agency_entry: ProvedEntryJson,
    pub grant_entries: Vec<ProvedEntryJson>,
}

/// The offences a footage request may name: serious offences against people and property,
/// and missing people. There is deliberately nothing for protests, public order, or any
/// other lawful assembly or speech, and no "other".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Offence {
    Homicide,
    Assault,
    SexualOffence,
    Robbery,
    Burglary,
    Theft,
    VehicleTheft,
    CriminalDamage,
    Arson,
    HitAndRun,
    MissingPerson,
    Kidnapping,
}

impl Offence {
    pub const ALL: [Offence; 12] = [
        Offence::Homicide,
        Offence::Assault,
        Offence::SexualOffence,
        Offence::Robbery,
        Offence::Burglary,
        Offence::Theft,
        Offence::VehicleTheft,
        Offence::CriminalDamage,
        Offence::Arson,
        Offence::HitAndRun,
        Offence::MissingPerson,
        Offence::Kidnapping,
    ];

    /// The name stored, logged and sent (`vehicle_theft`).
    pub fn as_str(self) -> &'static str {
        match self {
            Offence::Homicide => "homicide",
            Offence::Assault => "assault",
            Offence::SexualOffence => "sexual_offence",
            Offence::Robbery => "robbery",
            Offence::Burglary => "burglary",
            Offence::Theft => "theft",
            Offence::VehicleTheft => "vehicle_theft",
            Offence::CriminalDamage => "criminal_damage",
            Offence::Arson => "arson",
            Offence::HitAndRun => "hit_and_run",
            Offence::MissingPerson => "missing_person",
            Offence::Kidnapping => "kidnapping",
        }
    }

    pub fn parse(s: &str) -> Option<Offence> {
        Offence::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offence_names_are_their_serde_names() {
        for o in Offence::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), serde_json::json!(o.as_str()));
            assert_eq!(Offence::parse(o.as_str()), Some(o));
        }
        for c in crate::PostCategory::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
            assert_eq!(crate::PostCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(Offence::parse("protest"), None);
    }
}
