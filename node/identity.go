package node

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Identity is the node's libp2p key pair, stored as Kubo stores it: the
// peer ID, and the private key in libp2p's protobuf encoding, base64.
type Identity struct {
	PeerID  string
	PrivKey string
}

// NewIdentity generates an Ed25519 identity.
func NewIdentity() (Identity, error) {
	priv, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return Identity{}, err
	}
	raw, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return Identity{}, err
	}
	return Identity{PeerID: id.String(), PrivKey: base64.StdEncoding.EncodeToString(raw)}, nil
}

// Key decodes the private key and checks it against the peer ID.
func (i Identity) Key() (crypto.PrivKey, peer.ID, error) {
	raw, err := base64.StdEncoding.DecodeString(i.PrivKey)
	if err != nil {
		return nil, "", fmt.Errorf("identity: private key: %w", err)
	}
	priv, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, "", fmt.Errorf("identity: private key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, "", err
	}
	if id.String() != i.PeerID {
		return nil, "", fmt.Errorf("identity: the private key is peer %s, the config says %s", id, i.PeerID)
	}
	return priv, id, nil
}
