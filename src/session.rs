//! The executor's session between requests: the settings a request may set (transaction-local,
//! without SQL) and the check that no session-level setting outlives the request that made it.

use crate::error::ApiError;
use pgrx::pg_sys;
use std::ffi::CString;

/// What every internal query runs with: nothing from a schema a tenant can write is found
/// before the catalog (pg_temp last: otherwise it is searched first for relations).
pub const INTERNAL_SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// Sets `name` to `value` for the current transaction, as `set_config(name, value, true)` would
/// with the session user's rights (checked by Postgres: e.g. `role` only to a granted role).
/// Errors raise (caught by `spi::in_transaction`).
pub fn set_local(name: &str, value: &str) -> Result<(), ApiError> {
    set(name, value, pg_sys::PGERROR as i32).map(|_| ())
}

/// Whether the setting exists and is not empty (read without SQL; no error when it does not
/// exist).
pub fn has_value(name: &std::ffi::CStr) -> bool {
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    // SAFETY: a GUC's value is a NUL-terminated string that lives until it is set again
    !value.is_null() && unsafe { *value } != 0
}

/// Like [`set_local`], but a setting the session user may not set, or an invalid value, is
/// skipped silently (returns false) instead of failing the request.
pub fn try_set_local(name: &str, value: &str) -> Result<bool, ApiError> {
    set(name, value, pg_sys::DEBUG1 as i32)
}

fn set(name: &str, value: &str, elevel: i32) -> Result<bool, ApiError> {
    let n = CString::new(name).map_err(|_| ApiError::internal("setting name with a NUL byte"))?;
    let v = CString::new(value).map_err(|_| ApiError::nul_byte())?;
    let context = if unsafe { pg_sys::superuser() } {
        pg_sys::GucContext::PGC_SUSET
    } else {
        pg_sys::GucContext::PGC_USERSET
    };
    let rc = unsafe {
        pg_sys::set_config_option(
            n.as_ptr(),
            v.as_ptr(),
            context,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            elevel,
            false,
        )
    };
    Ok(rc > 0)
}

/// True when SQL of the last request left something at session level: a setting set with
/// `set_config(..., false)` / `SET` (source "session"), or a session-level `SET ROLE`. A scan
/// of the settings' sources, no SQL: cheap enough for every request.
pub fn is_dirty() -> bool {
    unsafe {
        if pg_sys::GetCurrentRoleId() != pg_sys::InvalidOid {
            return true;
        }
        let vars = pg_sys::get_guc_variables();
        let n = pg_sys::GetNumConfigOptions().max(0) as usize;
        (0..n).any(|i| {
            let var = *vars.add(i);
            // (RESET ALL skips the GUC_NO_RESET_ALL ones: role, checked above, and the
            // transaction_* settings, which end with their transaction)
            !var.is_null()
                && (*var).source == pg_sys::GucSource::PGC_S_SESSION
                && (*var).flags & pg_sys::GUC_NO_RESET_ALL as i32 == 0
        })
    }
}

/// Puts every session-level setting back to its value at connection (RESET ROLE plus
/// RESET ALL, which leaves the per-database and per-role defaults in place). Runs in its own
/// transaction, only after a request that left something behind.
pub fn restore() {
    let restored = crate::spi::in_transaction(false, || {
        unsafe {
            pg_sys::set_config_option(
                c"role".as_ptr(),
                c"none".as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SET,
                true,
                pg_sys::PGERROR as i32,
                false,
            );
            pg_sys::ResetAllOptions();
        }
        Ok(((), true))
    });
    if let Err(e) = restored {
        // Never serve with a session a request changed: a new executor starts clean.
        pgrx::log!(
            "serendb_data_api: cannot restore the session after a request ({e}); executor restarts"
        );
        unsafe { pg_sys::proc_exit(0) };
    }
}
