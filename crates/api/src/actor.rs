//! What an authenticated caller is beyond a household member: one of this server's
//! operators, or a verified agency (which never belongs to a household).

use base::err;
use db::server::Agency;

use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

/// Whether `account` runs this server.
pub fn is_operator(st: &AppState, account: &db::server::Account) -> bool {
    let email = account.email.to_lowercase();
    st.settings.operators.contains(&email)
}

impl Actor {
    /// The caller's account when it is one of this server's operators.
    pub fn operator(&self, st: &AppState) -> ApiResult<&db::server::Account> {
        let account = self.account()?;
        if !is_operator(st, account) {
            return Err(err!(PermissionDenied, "authorization: only this server's operators can do this").into());
        }
        Ok(account)
    }

    /// The caller's agency, verified.
    pub async fn verified_agency(&self, st: &AppState) -> ApiResult<Agency> {
        let account = self.account()?;
        let a = st
            .db
            .agency_of_account(&account.id)
            .await?
            .ok_or_else(|| err!(PermissionDenied, "authorization: only verified agencies can do this"))?;
        if a.verified_ms.is_none() {
            bail!(PermissionDenied, "authorization: the agency {:?} is not verified yet", a.name);
        }
        Ok(a)
    }
}

/// Refuses household membership to an agency's account: the two roles never mix, so an
/// agency sees footage only through grants made to its logged keys.
pub async fn not_an_agency(st: &AppState, account_id: &str) -> ApiResult<()> {
    if st.db.agency_of_account(account_id).await?.is_some() {
        bail!(FailedPrecondition, "agency: an agency's account cannot belong to a household; use a separate account");
    }
    Ok(())
}
