CREATE DATABASE fulfil_read;
