import { runSubgraph } from '../../platform/main';
import { createCustomerSubgraph } from './subgraph';

runSubgraph('customer', createCustomerSubgraph);
