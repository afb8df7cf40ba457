import { requireLogin } from '../api.js';
import { header, showError } from '../ui.js';
import { walletPage } from '../wallet.js';

requireLogin('fan');
header();
walletPage().catch((e) => showError(e, 'Cannot load the wallet'));
