import { requireLogin } from '../api.js';
import { header, showError } from '../ui.js';
import { earningsPage } from '../earnings.js';

requireLogin('creator');
header();
earningsPage().catch((e) => showError(e, 'Cannot load earnings'));
