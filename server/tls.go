package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// loadTLS reads the server's certificate and key, and returns the server
// side config and the config the gateway uses to dial the gRPC listener on
// loopback: it trusts exactly this certificate, under a name it carries.
func loadTLS(certFile, keyFile string) (server, loopback *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	name := ""
	switch {
	case len(leaf.DNSNames) > 0:
		name = leaf.DNSNames[0]
	case len(leaf.IPAddresses) > 0:
		name = leaf.IPAddresses[0].String()
	default:
		return nil, nil, errors.New("tls: the certificate names no DNS name or IP address")
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	loopback = &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}
	return server, loopback, nil
}
