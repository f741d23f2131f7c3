import express, { Request, RequestHandler } from 'express';
import { rejectNulBytes } from '../../http/params';
import { parseMultipartFormData } from './multipart';

/** The form limits of the token, revocation and introspection endpoints, whichever spelling. */
export const FORM_LIMIT_BYTES = 16 * 1024;
export const FORM_MAX_PARAMETERS = 50;

const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data'];

/**
 * RFC 6749 §3.2 names application/x-www-form-urlencoded. multipart/form-data is accepted too,
 * with the same limits, because the popular guides test a token endpoint with `curl -F`.
 */
export function isFormBody(req: Request): boolean {
  return typeof req.is(FORM_TYPES) === 'string';
}

const multipart: RequestHandler = (req, _res, next) => {
  if (req.is('multipart/form-data')) {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    req.body = parseMultipartFormData(raw, req.headers['content-type'], { maxFields: FORM_MAX_PARAMETERS });
  }
  next();
};

/** Parses either spelling into flat string fields (then flatBody), and refuses NUL bytes. */
export const formBody: RequestHandler[] = [
  express.urlencoded({ extended: false, limit: FORM_LIMIT_BYTES, parameterLimit: FORM_MAX_PARAMETERS }),
  express.raw({ type: 'multipart/form-data', limit: FORM_LIMIT_BYTES }),
  multipart,
  rejectNulBytes,
];
