//! Automated HSM steps through PKCS#11 (`cryptoki`): environments, sessions, actions, KCVs.
