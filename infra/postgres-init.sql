-- One database per service: each service owns its tables and migrates them itself at start.
CREATE DATABASE techmarket_auth;
CREATE DATABASE techmarket_market;
CREATE DATABASE techmarket_search;
