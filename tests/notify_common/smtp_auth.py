"""A loopback mail server for the mail tests: TLS and SMTP AUTH, which aiosmtpd's command line
cannot do together.

Usage: smtp_auth.py PORT MODE CERT KEY MAILDIR USER RECORD
  MODE    starttls (STARTTLS required before anything else) or tls (TLS from the first byte)
  CERT    the server's certificate chain (PEM), KEY its private key (PEM)
  RECORD  a file that gets one line per login attempt: mechanism, user, accepted or refused

The password is read from the environment variable SMTP_TEST_PASSWORD, never from the command
line. A refused login is answered with a 535 line that echoes the credentials as the client
sent them in base64, as a careless server might, so the client's redaction can be tested.
Messages go into MAILDIR through aiosmtpd's Mailbox handler. Runs until it is killed.
"""

import base64
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port, mode, cert, key, maildir, user, record = sys.argv[1:]
    password = os.environ["SMTP_TEST_PASSWORD"]

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False)
        login = auth_data.login.decode()
        accepted = login == user and auth_data.password.decode() == password
        with open(record, "a", encoding="utf-8") as out:
            out.write(f"{mechanism} {login} {'accepted' if accepted else 'refused'}\n")
        if accepted:
            return AuthResult(success=True)
        plain = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password)
        login_form = base64.b64encode(auth_data.password)
        echo = f"535 5.7.8 refused {plain.decode()} {login_form.decode()}"
        return AuthResult(success=False, handled=False, message=echo)

    options = dict(
        hostname="127.0.0.1",
        port=int(port),
        authenticator=authenticator,
        auth_required=True,
    )
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True)
    else:
        options.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(Mailbox(maildir), **options)
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
