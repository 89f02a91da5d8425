// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with the
// openssl command line (Debian's openssl package), for TLS and mTLS tests of gRPC endpoints.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace mt::testing {

struct Pki {
  std::string dir;  // ca.pem, server.pem/.key, client.pem/.key
  bool ok = false;
};

inline Pki MakePki() {
  Pki p;
  char tmpl[] = "/tmp/meshtrain-pki-XXXXXX";
  p.dir = mkdtemp(tmpl);
  const std::string script =
      "cd " + p.dir + " && " +
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key "
      "-out ca.pem && "
      "printf 'subjectAltName=IP:127.0.0.1' > san.ext && "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out "
      "server.csr && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile san.ext -out server.pem && "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=worker -keyout client.key -out client.csr "
      "&& openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-out client.pem";
  p.ok = std::system((script + " >/dev/null 2>&1").c_str()) == 0;
  return p;
}

}  // namespace mt::testing
