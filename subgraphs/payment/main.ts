import { runSubgraph } from '../../platform/main';
import { createPaymentSubgraph } from './subgraph';

runSubgraph('payment', createPaymentSubgraph);
