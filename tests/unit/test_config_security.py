"""Security options of app.config: api-keys, secret-key, signing-key, the outbound
networks and max-body-bytes. Every call passes environ= so the real environment
cannot leak in."""

import ipaddress

import pytest

from app.config import DEFAULT_DENY_NETWORKS, OPTIONS, ConfigError, load_config
from app.secrets.sealing import generate_key

KEY_A = generate_key()
KEY_B = generate_key()


def _networks(*texts):
    return tuple(ipaddress.ip_network(text) for text in texts)


def _error(environ) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(environ=environ)
    message = str(raised.value)
    assert "\n" not in message
    return message


# defaults


def test_by_default_there_are_no_api_keys_no_secret_key_and_no_signing_key():
    config = load_config(environ={})
    assert config.api_keys == ()
    assert config.secret_key == ()
    assert config.signing_key == ""


def test_by_default_the_deny_list_is_the_documented_one_and_nothing_is_allowed_only():
    config = load_config(environ={})
    assert config.http_deny_networks == _networks(*DEFAULT_DENY_NETWORKS.split(","))
    assert config.http_allow_networks == ()


def test_by_default_the_body_limit_is_one_mebibyte():
    assert load_config(environ={}).max_body_bytes == 1024 * 1024


def test_the_keys_are_marked_secret_and_the_networks_are_not():
    secret = {o.flag for o in OPTIONS if o.secret}
    assert {"api-keys", "secret-key", "signing-key"} <= secret
    assert not {"http-deny-networks", "http-allow-networks", "max-body-bytes"} & secret


# api-keys and secret-key: comma lists


def test_api_keys_are_a_comma_separated_list_with_blanks_dropped():
    config = load_config(environ={"SCHEDULER_API_KEYS": " key-one , key-two,,"})
    assert config.api_keys == ("key-one", "key-two")


def test_a_single_api_key_is_a_list_of_one():
    assert load_config(environ={"SCHEDULER_API_KEYS": "only"}).api_keys == ("only",)


def test_api_keys_given_as_a_flag_are_parsed_the_same():
    config = load_config(overrides={"api-keys": "a,b"}, environ={})
    assert config.api_keys == ("a", "b")


def test_secret_keys_are_a_comma_separated_list_newest_first():
    config = load_config(environ={"SCHEDULER_SECRET_KEY": f"{KEY_A}, {KEY_B}"})
    assert config.secret_key == (KEY_A, KEY_B)


def test_signing_key_is_taken_as_given():
    assert load_config(environ={"SCHEDULER_SIGNING_KEY": "sig"}).signing_key == "sig"


# bad values


@pytest.mark.parametrize(
    "raw",
    ["not-a-key-Zy9", "short", f"{KEY_A},not-a-key-Zy9", "ééé-not-ascii"],
    ids=["garbage", "short", "second-of-two", "non-ascii"],
)
def test_an_invalid_fernet_key_is_a_config_error_naming_the_option(raw):
    message = _error({"SCHEDULER_SECRET_KEY": raw})
    assert "--secret-key" in message
    assert "SCHEDULER_SECRET_KEY" in message
    assert "Fernet" in message


@pytest.mark.parametrize("raw", ["not-a-key-Zy9", f"{KEY_A},not-a-key-Zy9"])
def test_an_invalid_fernet_key_is_not_echoed_nor_the_valid_key_beside_it(raw):
    message = _error({"SCHEDULER_SECRET_KEY": raw})
    assert "not-a-key-Zy9" not in message
    assert KEY_A not in message
    assert "***" in message


def test_the_fernet_key_error_says_how_to_get_a_key():
    assert "scheduler keygen" in _error({"SCHEDULER_SECRET_KEY": "bad"})


@pytest.mark.parametrize("flag", ["http-deny-networks", "http-allow-networks"])
@pytest.mark.parametrize("raw", ["bogus", "10.0.0.0/8,bogus", "10.0.0.0/33", "300.1.2.3"])
def test_an_invalid_network_is_a_config_error_naming_the_option_and_the_entry(flag, raw):
    variable = "SCHEDULER_" + flag.upper().replace("-", "_")
    message = _error({variable: raw})
    assert f"--{flag}" in message
    assert variable in message
    bad_entry = raw.split(",")[-1]
    assert repr(bad_entry) in message


def test_an_invalid_network_in_a_flag_is_a_config_error_too():
    with pytest.raises(ConfigError, match="--http-allow-networks"):
        load_config(overrides={"http-allow-networks": "nope"}, environ={})


def test_an_error_in_a_network_does_not_echo_the_keys_set_beside_it():
    message = _error(
        {
            "SCHEDULER_API_KEYS": "api-key-Vb71",
            "SCHEDULER_SECRET_KEY": KEY_A,
            "SCHEDULER_SIGNING_KEY": "sign-key-Pq02",
            "SCHEDULER_HTTP_DENY_NETWORKS": "bogus",
        }
    )
    for secret in ("api-key-Vb71", KEY_A, "sign-key-Pq02"):
        assert secret not in message


# networks


def test_networks_are_a_comma_list_of_ipv4_and_ipv6_networks():
    config = load_config(
        environ={
            "SCHEDULER_HTTP_ALLOW_NETWORKS": "10.0.0.0/8, fd12::/16",
            "SCHEDULER_HTTP_DENY_NETWORKS": "10.9.0.0/16,192.0.2.1",
        }
    )
    assert config.http_allow_networks == _networks("10.0.0.0/8", "fd12::/16")
    assert config.http_deny_networks == _networks("10.9.0.0/16", "192.0.2.1/32")


def test_an_empty_deny_list_turns_the_default_off():
    assert load_config(environ={"SCHEDULER_HTTP_DENY_NETWORKS": ""}).http_deny_networks == ()


# max-body-bytes


def test_max_body_bytes_of_1024_is_accepted():
    assert load_config(environ={"SCHEDULER_MAX_BODY_BYTES": "1024"}).max_body_bytes == 1024


@pytest.mark.parametrize("raw", ["1023", "0", "-1"])
def test_max_body_bytes_below_1024_is_a_config_error_naming_the_option(raw):
    message = _error({"SCHEDULER_MAX_BODY_BYTES": raw})
    assert "--max-body-bytes" in message
    assert "1024" in message


def test_max_body_bytes_that_is_not_a_number_is_a_config_error():
    assert "--max-body-bytes" in _error({"SCHEDULER_MAX_BODY_BYTES": "1MiB"})


# environ() round trips


def test_environ_round_trips_the_security_options():
    config = load_config(
        environ={
            "SCHEDULER_API_KEYS": "key-one,key-two",
            "SCHEDULER_SECRET_KEY": f"{KEY_A},{KEY_B}",
            "SCHEDULER_SIGNING_KEY": "sign-key",
            "SCHEDULER_HTTP_DENY_NETWORKS": "169.254.0.0/16,fe80::/10,10.9.0.0/16",
            "SCHEDULER_HTTP_ALLOW_NETWORKS": "10.0.0.0/8,fd12::/16",
            "SCHEDULER_MAX_BODY_BYTES": "4096",
        }
    )
    environ = config.environ()
    assert environ["SCHEDULER_API_KEYS"] == "key-one,key-two"
    assert environ["SCHEDULER_SECRET_KEY"] == f"{KEY_A},{KEY_B}"
    assert environ["SCHEDULER_HTTP_ALLOW_NETWORKS"] == "10.0.0.0/8,fd12::/16"
    assert environ["SCHEDULER_MAX_BODY_BYTES"] == "4096"
    again = load_config(environ=environ)
    assert again == config
    assert again.api_keys == ("key-one", "key-two")
    assert again.http_allow_networks == _networks("10.0.0.0/8", "fd12::/16")


def test_environ_round_trips_the_default_networks_and_empty_lists():
    config = load_config(environ={})
    environ = config.environ()
    assert environ["SCHEDULER_API_KEYS"] == ""
    assert environ["SCHEDULER_HTTP_ALLOW_NETWORKS"] == ""
    again = load_config(environ=environ)
    assert again.http_deny_networks == config.http_deny_networks
    assert again.api_keys == ()
    assert again.secret_key == ()
